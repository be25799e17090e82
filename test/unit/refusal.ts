import { InputError } from "../../core/errors";

/** The InputError `f` refuses with; fails the test when `f` accepts the input or throws anything else. */
export function refusal(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("the input was accepted, but it should have been refused with an InputError");
}
