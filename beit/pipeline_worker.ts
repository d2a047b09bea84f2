// The second thread of a two-thread results run: receives the pipeline's options, runs
// its part, and answers `{}` when done or `{ error }` when it failed.

import { type PipelineOptions, runPipeline } from "./pipeline.ts";

// A worker's global scope (typed here without the worker lib, whose types the backends'
// window-side code does not use).
const scope = self as unknown as {
  onmessage: (event: MessageEvent<PipelineOptions>) => void;
  postMessage(message: unknown): void;
};

scope.onmessage = async (event) => {
  try {
    await runPipeline(event.data);
    scope.postMessage({});
  } catch (error) {
    scope.postMessage({ error: (error as Error).stack ?? String(error) });
  }
};
