/** What a config parse refuses, as "key: message" lines (throws when it refuses nothing). */
import { ConfigError } from "../../components/config";

export function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems.map((p) => `${p.key}: ${p.message}`);
    throw e;
  }
  throw new Error("expected a ConfigError");
}
