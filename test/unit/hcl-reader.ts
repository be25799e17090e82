/**
 * Reads back a rendered server config the way the server would see it, for the unit tests.
 * Only the shapes the renderer writes (attributes one per line, labelled blocks) are
 * understood; anything else fails loudly, so a string that broke out of its quotes shows up
 * as an unreadable config instead of passing unnoticed.
 */
export interface ReadBlock {
  type: string;
  labels: string[];
  attrs: Record<string, unknown>;
  blocks: ReadBlock[];
}

/**
 * Decodes one quoted literal. Vault and OpenBao parse their config with HCL 1, whose string
 * scanner treats `${` as the start of an interpolation: quotes and newlines after it do not
 * end the string, and escapes inside it are not decoded (the real `bao` reports "literal not
 * terminated"). Outside `${`, HCL 1 decodes the escapes JSON writes exactly as JSON does.
 */
export function hclString(raw: string): string {
  if (!raw.startsWith('"')) throw new Error(`not a quoted string: ${raw}`);
  if (raw.includes("${")) throw new Error(`HCL 1 reads "\${" as an interpolation, so this literal does not end where it seems to: ${raw}`);
  const v: unknown = JSON.parse(raw);
  if (typeof v !== "string") throw new Error(`not a string: ${raw}`);
  return v;
}

function hclValue(raw: string): unknown {
  if (raw.startsWith('"')) return hclString(raw);
  if (raw.startsWith("[")) {
    if (raw.includes("${")) throw new Error(`HCL 1 reads "\${" as an interpolation: ${raw}`);
    return JSON.parse(raw);
  }
  if (raw === "true" || raw === "false") return raw === "true";
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  throw new Error(`not a value this reader knows: ${raw}`);
}

const LITERAL = /"(?:[^"\\]|\\.)*"/g;

export function readHcl(text: string): ReadBlock {
  const root: ReadBlock = { type: "", labels: [], attrs: {}, blocks: [] };
  const stack = [root];
  text.split("\n").forEach((line, i) => {
    const t = line.trim();
    if (t === "") return;
    const top = stack[stack.length - 1];
    if (t === "}") {
      if (stack.length === 1) throw new Error(`line ${i + 1}: "}" closes nothing`);
      stack.pop();
      return;
    }
    const open = /^([a-z_]+)((?:\s+"(?:[^"\\]|\\.)*")*)\s*\{$/.exec(t);
    if (open) {
      const b: ReadBlock = { type: open[1], labels: [...open[2].matchAll(LITERAL)].map((m) => hclString(m[0])), attrs: {}, blocks: [] };
      top.blocks.push(b);
      stack.push(b);
      return;
    }
    const attr = /^([a-z_]+) = (.+)$/.exec(t);
    if (attr) {
      if (attr[1] in top.attrs) throw new Error(`line ${i + 1}: ${attr[1]} is set twice`);
      top.attrs[attr[1]] = hclValue(attr[2]);
      return;
    }
    throw new Error(`line ${i + 1} is not HCL this reader knows: ${line}`);
  });
  if (stack.length !== 1) throw new Error(`${stack.length - 1} block(s) are never closed`);
  return root;
}

/** The blocks of `type` (and `label`, when given) directly inside `parent`. */
export function blocksOf(parent: ReadBlock, type: string, label?: string): ReadBlock[] {
  return parent.blocks.filter((b) => b.type === type && (label === undefined || b.labels[0] === label));
}

/** The one block of `type`/`label`; fails when there is not exactly one. */
export function blockOf(parent: ReadBlock, type: string, label?: string): ReadBlock {
  const found = blocksOf(parent, type, label);
  if (found.length !== 1) throw new Error(`expected one ${type}${label ? ` "${label}"` : ""} block, found ${found.length}`);
  return found[0];
}
