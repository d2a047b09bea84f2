// A run folder treated carelessly: a damaged results.json, a torn last line in
// metrics.jsonl, a second run on the same folder, a user's own report.md, and flags that
// cannot work — each refused or repaired with a message, before any work where possible.

import assert from "node:assert/strict";
import fc from "fast-check";
import { runPipeline } from "../../beit/pipeline.ts";
import { PRESETS } from "../../beit/presets.ts";
import { main as pretrain } from "../../beit/pretrain_cli.ts";
import { main as tokenize } from "../../vqkd/tokenize_cli.ts";
import { TINY } from "./tiny_preset.ts";

const run = (out: string) =>
  runPipeline({ preset: { ...TINY, rows: "main" }, out, seed: 2, backend: "cpu", quiet: true });

/** Captures console.error while `f` runs. */
async function stderrOf<R>(f: () => Promise<R>): Promise<{ value: R; text: string }> {
  const lines: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => lines.push(args.join(" "));
  try {
    return { value: await f(), text: lines.join("\n") };
  } finally {
    console.error = original;
  }
}

Deno.test("a run folder survives a damaged results.json and a torn metrics line", async () => {
  const out = await Deno.makeTempDir();
  const first = await run(out);
  // A results file holding {} (not a list of rows), and a run killed mid-line.
  await Deno.writeTextFile(`${out}/results.json`, "{}");
  await Deno.writeTextFile(`${out}/metrics.jsonl`, '{"stage":"beit","st', { append: true });
  const { value: again } = await stderrOf(() =>
    runPipeline({ preset: { ...TINY, rows: "main" }, out, seed: 2, backend: "cpu", quiet: false })
  );
  assert.deepEqual(again.map((r) => r.name), first.map((r) => r.name));
  assert.deepEqual(again.map((r) => r.probe), first.map((r) => r.probe)); // recomputed, same
  // The torn line was ended, so later records stay readable; the report was written.
  const lines = (await Deno.readTextFile(`${out}/metrics.jsonl`)).split("\n").filter(Boolean);
  const unreadable = lines.filter((l) => {
    try {
      JSON.parse(l);
      return false;
    } catch {
      return true;
    }
  });
  assert.deepEqual(unreadable, ['{"stage":"beit","st']);
  assert.match(await Deno.readTextFile(`${out}/report.md`), /^# Tessella BEiT v2 run/);
  await Deno.remove(out, { recursive: true });
});

Deno.test("a second run on a folder in use is refused; a lock left by a killed run is not", async () => {
  const out = await Deno.makeTempDir();
  // Another holder of the folder's lock (the lock is per open file, so this stands in for a
  // second process).
  const holder = await Deno.open(`${out}/.lock`, { write: true, create: true });
  await holder.lock(true);
  await holder.write(new TextEncoder().encode("12345\n"));
  await assert.rejects(() => run(out), /is in use by another run \(process 12345, lock file/);
  await holder.unlock();
  holder.close();
  // The file a killed run leaves behind holds no lock: the next run goes ahead.
  await Deno.writeTextFile(`${out}/.lock`, "99999\n");
  await run(out);
  assert.equal(await Deno.stat(`${out}/.lock`).then(() => true, () => false), false); // released
  await Deno.remove(out, { recursive: true });
});

Deno.test("a report.md the user wrote is never overwritten", async () => {
  const out = await Deno.makeTempDir();
  await Deno.writeTextFile(`${out}/report.md`, "my own notes\n");
  const { text } = await stderrOf(() => run(out));
  assert.equal(await Deno.readTextFile(`${out}/report.md`), "my own notes\n");
  assert.match(await Deno.readTextFile(`${out}/report.tessella.md`), /^# Tessella BEiT v2 run/);
  assert.match(
    text,
    /report\.md was not written by Tessella; the report goes to report\.tessella\.md/,
  );
  await Deno.remove(out, { recursive: true });
});

Deno.test("deno task pretrain refuses empty values and sizes that cannot work, before any work", async () => {
  const { value: codes, text } = await stderrOf(async () => [
    await pretrain(["--seed", ""]),
    await pretrain(["--seed", "1e3"]),
    await pretrain(["--out", " "]),
    await pretrain(["--train-size", "10"]),
    await pretrain(["--beit-epochs", "0"]),
    await pretrain(["--preset", "__proto__"]),
  ]);
  assert.deepEqual(codes, [2, 2, 2, 2, 2, 2]);
  assert.match(text, /--seed needs a value \(got an empty string\)/);
  assert.match(text, /--seed must be a non-negative integer \(got "1e3"\)/);
  assert.match(text, /--out needs a value/);
  assert.match(
    text,
    /the teacher stage's batch of \d+ images is larger than the 10 training images/,
  );
  assert.match(text, /--beit-epochs must be at least 1 \(got 0\)/);
  assert.match(text, /Unknown preset "__proto__"/);
});

Deno.test("deno task tokenize refuses two images that would write one token map", async () => {
  const { value: code, text } = await stderrOf(() =>
    tokenize(["--checkpoint", "run/vqkd.ckpt", "--out", "maps", "a/shirt.png", "b/shirt.png"])
  );
  assert.equal(code, 2);
  assert.match(text, /a\/shirt\.png and b\/shirt\.png would both write maps\/shirt\.tokens\.png/);
});

Deno.test("fuzz: any malformed flag value is refused with exit code 2, before any work", async () => {
  const intFlags = ["--seed", "--beit-epochs", "--train-size", "--finetune-batch", "--workers"];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...intFlags),
      fc.string({ maxLength: 12 }).filter((s) => !/^\d+$/.test(s)),
      fc.string({ maxLength: 12 }).filter((s) => !Object.hasOwn(PRESETS, s)),
      async (flag, value, preset) => {
        const { value: codes } = await stderrOf(async () => [
          await pretrain([flag, value]),
          await pretrain(["--preset", preset]),
        ]);
        assert.deepEqual(
          codes,
          [2, 2],
          `${flag} ${JSON.stringify(value)}, --preset ${JSON.stringify(preset)}`,
        );
      },
    ),
    { numRuns: 200, seed: 22 },
  );
});
