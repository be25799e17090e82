/**
 * copyVerdict, the one wording of a transit-key copy's state (the lab's drift check and
 * TransitKeyRestore use it): another key, behind the key's latest version, or in sync.
 */
import { copyVerdict, CopyView } from "../../core/steps/key-copy";

const view = (over: Partial<CopyView>): CopyView => ({
  ref: { mountPath: "transit/", keyName: "autounseal" },
  holder: "the helper",
  copyVersion: 2,
  latestVersion: 2,
  remedy: "Copy the key again.",
  ...over,
});

test.each<[string, Partial<CopyView>, boolean, RegExp]>([
  ["a copy at the latest version", {}, true, /^in sync: the helper holds version 2 of transit\/autounseal, the unsealer's latest is 2$/],
  ["a copy ahead of the recorded latest version", { copyVersion: 3 }, true, /^in sync: the helper holds version 3/],
  [
    "a copy behind",
    { copyVersion: 1 },
    false,
    /^DRIFT: the helper holds version 1 of transit\/autounseal but the unsealer's key is at version 2; the deadlock path breaks at the sealed cluster's next leader change\. Copy the key again\.$/,
  ],
  [
    "no copy at all",
    { copyVersion: 0, holder: "the last backup" },
    false,
    /^DRIFT: the last backup holds version 0 of transit\/autounseal/,
  ],
  [
    "a copy of another key, even at the latest version",
    { otherKeyVersion: "1" },
    false,
    /^ANOTHER KEY: the helper holds a transit\/autounseal that is not a copy of the unsealer's key \(version 1 was created at another time\); copying or restoring over it is refused/,
  ],
])("%s", (_what, over, inSync, verdict) => {
  const v = copyVerdict(view(over));
  expect(v.inSync).toBe(inSync);
  expect(v.verdict).toMatch(verdict);
});
