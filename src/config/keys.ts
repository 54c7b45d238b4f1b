/** The tree of configuration key names, read from the schema, for environment overrides and "did you mean" hints. */
import type { z } from "zod";
import type { FieldKind } from "./fields.js";

/** A map from key name to its children, or null for a leaf. */
export interface KeyTree {
  [key: string]: KeyTree | null;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s = schema;
  for (;;) {
    const def = s._zod.def as unknown as Def;
    if (def.innerType) s = def.innerType;
    else if (def.type === "pipe" && def.in && (def.in._zod.def as unknown as Def).type !== "unknown") s = def.in;
    else return s;
  }
}

export function keyTree(schema: z.ZodType): KeyTree {
  const inner = unwrap(schema);
  const def = inner._zod.def as unknown as Def;
  const tree: KeyTree = {};
  for (const [key, child] of Object.entries(def.shape ?? {})) {
    const childDef = unwrap(child)._zod.def as unknown as Def;
    tree[key] = childDef.type === "object" ? keyTree(child) : null;
  }
  return tree;
}

/** The schema of the key (a leaf or a section) at `segments`, or null when they name none. */
export function schemaAt(schema: z.ZodType, segments: readonly string[]): z.ZodType | null {
  let node: z.ZodType = schema;
  for (const segment of segments) {
    const child = (unwrap(node)._zod.def as unknown as Def).shape?.[segment];
    if (!child) return null;
    node = child;
  }
  return node;
}

/** Whether a key takes a list or a map, a whole section included (so that text given for it may be flow YAML). */
export function takesStructure(schema: z.ZodType): boolean {
  const kind = schema.description as FieldKind | undefined;
  const type = (unwrap(schema)._zod.def as unknown as Def).type;
  return kind === "list" || kind === "redis" || type === "array" || type === "object";
}

/** The closest known key to a mistyped one, when it is close enough to be a typo. */
export function suggest(typed: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(typed.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(typed.length / 3)) ? best : null;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}
