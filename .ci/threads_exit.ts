// A script that splits a kernel over two CPU threads and then simply ends: the process
// must exit by itself (the thread pool's workers never keep it alive). .ci/run runs it
// under a timeout.

import { matmul, ones, setNumThreads, toArraySync } from "../mod.ts";

setNumThreads(2);
const y = matmul(ones([512, 512]), ones([512, 512]));
if (toArraySync(y)[0] !== 512) throw new Error("matmul gave a wrong value");
console.log("two threads ran a matmul; the script now ends");
