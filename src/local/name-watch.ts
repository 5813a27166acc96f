// The addresses a set of host names resolve to, and which names changed since the last look.
// The balancer (balancer.ts) reloads NGINX when a refresh reports a change.
//
//   refresh(): lookup(name) for every name, all addresses ──► compare with the last look
//     addresses differ (sorted) ─────────────────► a change {name, from, to}
//     ENOTFOUND: the name does not exist ────────► to = [] (a change when it had addresses)
//     any other failure (resolver unreachable) ──► keep the last addresses: no change
//
// What must stay true: the first refresh reports every name; a later one reports exactly the
// names whose address set differs from the one reported before.
import { lookup as dnsLookup } from "node:dns/promises";

/** Every address of a name, as the system's resolver gives them (/etc/hosts included). */
export type Lookup = (name: string) => Promise<readonly string[]>;

export interface NameChange {
  readonly name: string;
  /** The addresses before; null at the first look. */
  readonly from: readonly string[] | null;
  /** The addresses now; empty when the name does not resolve. */
  readonly to: readonly string[];
}

/** The system's resolver: a name that does not exist has no addresses; other failures throw. */
export const systemLookup: Lookup = async (name) => {
  try {
    return (await dnsLookup(name, { all: true })).map((a) => a.address);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTFOUND") return [];
    throw err;
  }
};

export class NameWatch {
  readonly names: readonly string[];
  private readonly lookup: Lookup;
  /** Each name's addresses at the last look, sorted. */
  private readonly known = new Map<string, readonly string[]>();

  constructor(names: Iterable<string>, lookup: Lookup = systemLookup) {
    this.names = [...new Set(names)];
    this.lookup = lookup;
  }

  /** The addresses of `name` at the last look (empty: it did not resolve, or no look yet). */
  addresses(name: string): readonly string[] {
    return this.known.get(name) ?? [];
  }

  /** Whether `name` had addresses at the last look. */
  resolves(name: string): boolean {
    return this.addresses(name).length > 0;
  }

  /** Looks every name up; returns the names whose addresses changed, in the order given. */
  async refresh(): Promise<NameChange[]> {
    const looked = await Promise.all(
      this.names.map(async (name) => {
        try {
          return [...new Set(await this.lookup(name))].sort();
        } catch {
          return undefined;
        }
      }),
    );
    const changes: NameChange[] = [];
    this.names.forEach((name, i) => {
      const before = this.known.get(name);
      const now = looked[i] ?? before ?? [];
      if (before !== undefined && sameList(before, now)) return;
      this.known.set(name, now);
      changes.push({ name, from: before ?? null, to: now });
    });
    return changes;
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
