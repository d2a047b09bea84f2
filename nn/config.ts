// Model configs in the official constructor argument names (snake_case, as the JSON
// files of the official code) or their camelCase twins. A missing key takes the
// official default; an unknown key, or two spellings of one key that disagree, is an
// error that names it.

/** Converts snake_case to camelCase: `drop_path_rate` → `dropPathRate`. */
export function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Normalises a config object against defaults given in camelCase.
 *
 * @param input the user's config (snake_case and/or camelCase keys)
 * @param defaults every accepted key (camelCase) with its default
 * @param what names the config in errors ("ViT config")
 * @returns the defaults overridden by the input
 */
export function parseConfig<T extends object>(
  input: Record<string, unknown>,
  defaults: T,
  what: string,
): T {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  const seen = new Map<string, [string, unknown]>();
  for (const [key, value] of Object.entries(input ?? {})) {
    const camel = camelCase(key);
    if (!(camel in defaults)) {
      const known = Object.keys(defaults).join(", ");
      throw new Error(
        `Unknown ${what} key "${key}" (known keys: ${known}, or their snake_case names)`,
      );
    }
    const earlier = seen.get(camel);
    if (earlier && JSON.stringify(earlier[1]) !== JSON.stringify(value)) {
      throw new Error(
        `Conflicting ${what} keys: "${earlier[0]}" is ${
          JSON.stringify(earlier[1])
        } but "${key}" is ${JSON.stringify(value)}`,
      );
    }
    seen.set(camel, [key, value]);
    out[camel] = value;
  }
  return out as T;
}
