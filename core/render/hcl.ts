/**
 * The few HCL shapes a Vault server config needs: attributes and labelled blocks.
 * Strings are written with JSON escaping, which HCL reads the same way, plus `${` written
 * as `$\u007b`: the servers parse HCL 1, where `${` opens an interpolation. So a path or an
 * address can never break out of its quotes or change meaning.
 */
export type HclValue = string | number | boolean | string[];

export interface HclBlock {
  type: string;
  labels?: string[];
  attrs?: Record<string, HclValue | undefined>;
  blocks?: HclBlock[];
}

function quote(s: string): string {
  return JSON.stringify(s).replace(/\$\{/g, "$\\u007b");
}

function value(v: HclValue): string {
  if (Array.isArray(v)) return `[${v.map(quote).join(", ")}]`;
  return typeof v === "string" ? quote(v) : String(v);
}

function body(attrs: Record<string, HclValue | undefined>, blocks: HclBlock[], indent: string): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined) lines.push(`${indent}${k} = ${value(v)}`);
  }
  for (const b of blocks) lines.push(renderBlock(b, indent));
  return lines.join("\n");
}

export function renderBlock(b: HclBlock, indent = ""): string {
  const labels = (b.labels ?? []).map((l) => ` ${quote(l)}`).join("");
  const inner = body(b.attrs ?? {}, b.blocks ?? [], indent + "  ");
  return `${indent}${b.type}${labels} {\n${inner}${inner ? "\n" : ""}${indent}}`;
}

/** A whole file: top-level attributes, then blocks, separated by blank lines. */
export function renderFile(attrs: Record<string, HclValue | undefined>, blocks: HclBlock[]): string {
  const top = body(attrs, [], "");
  return [top, ...blocks.map((b) => renderBlock(b))].filter((s) => s.length > 0).join("\n\n") + "\n";
}
