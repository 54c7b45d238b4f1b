/** What a pipeline stage is, and the loop that runs an ordered list of them. */
import type http from "node:http";
import type { RequestScope } from "./scope.js";

/** A stage either lets the request continue (returns undefined) or answers it (returns "done"). */
export type StageResult = void | "done";

export interface Exchange {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  scope: RequestScope;
}

export interface Stage {
  readonly name: string;
  run(x: Exchange): StageResult | Promise<StageResult>;
}

/** Runs stages in order until one answers; synchronous stages cost no promise. */
export function runStages(stages: readonly Stage[], x: Exchange, from = 0): StageResult | Promise<StageResult> {
  for (let i = from; i < stages.length; i++) {
    const result = stages[i]!.run(x);
    if (result === "done") return "done";
    if (result instanceof Promise) {
      return result.then((r) => (r === "done" ? "done" : runStages(stages, x, i + 1)));
    }
  }
  return undefined;
}
