/** Reads a secret from the terminal without echo, or a line from standard input when it is not a terminal. */
import readline from "node:readline";

let piped: string[] | undefined;

async function pipedLines(): Promise<string[]> {
  if (piped) return piped;
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  piped = Buffer.concat(chunks).toString("utf8").split(/\r?\n/);
  return piped;
}

export async function promptSecret(question: string): Promise<string> {
  if (!process.stdin.isTTY) {
    const lines = await pipedLines();
    return lines.shift() ?? "";
  }
  return new Promise((resolve) => {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const output = rl as unknown as { _writeToOutput: (s: string) => void; output: NodeJS.WriteStream };
    let asked = false;
    output._writeToOutput = (s: string) => {
      // Show the question, then nothing of what is typed.
      if (!asked) {
        process.stderr.write(s);
        asked = true;
      }
    };
    rl.question(question, (answer) => {
      process.stderr.write("\n");
      rl.close();
      resolve(answer);
    });
  });
}

/** Asks twice; throws when the answers differ or are empty. */
export async function promptNewPassword(label: string): Promise<string> {
  const first = await promptSecret(`Please enter ${label}: `);
  const second = await promptSecret(`Please re-enter ${label}: `);
  if (first !== second) throw new Error("the two passwords differ; nothing was changed");
  if (first.length === 0) throw new Error("the password is empty; nothing was changed");
  return first;
}

/** Asks a yes/no question (echoed); only "y" or "yes" is a yes. Piped input answers from its next line. */
export async function confirm(question: string): Promise<boolean> {
  let answer: string;
  if (!process.stdin.isTTY) {
    process.stderr.write(question);
    answer = (await pipedLines()).shift() ?? "";
    process.stderr.write(`${answer}\n`);
  } else {
    const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
    answer = await new Promise<string>((resolve) => rl.question(question, resolve));
    rl.close();
  }
  return /^\s*y(es)?\s*$/i.test(answer);
}
