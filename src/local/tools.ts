// Finding the system programs the local cluster and the balancer run (nginx, prometheus).
import { existsSync } from "node:fs";
import { resolve } from "node:path";

/** The path of a program: `name` itself when it has a slash, else found on PATH or in the sbin directories. */
export function findTool(name: string): string | undefined {
  if (name.includes("/")) return existsSync(name) ? name : undefined;
  for (const dir of (process.env["PATH"] ?? "").split(":").concat(["/usr/sbin", "/sbin"])) {
    const path = resolve(dir, name);
    if (dir !== "" && existsSync(path)) return path;
  }
  return undefined;
}
