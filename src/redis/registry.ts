// A node's command table, built by families (docs/design.md, "Client interfaces"): each family
// is one file that adds its commands (name, arity, flags, handler); a node builds one registry
// from the families it answers, and a command's id is its index in that registry. Id 0 is
// every name the node does not know. The dispatcher finds a command's handler, arity and flags
// by id in arrays, so adding a family never touches it.
//
//   lookup(name bytes) ─► id ─► handlers[id], arity[id], flags[id], names[id] (metrics labels)
//
// The lookup makes no string and allocates nothing: names hash (case folded) into an
// open-addressing table of ids and the candidate's bytes are compared, ASCII letters folded
// as Redis's strcasecmp folds them.

/** The command replies later, through a reserved slot: it keeps its place among data commands. */
export const REPLIES_LATER = 1;
/** The command changes data. */
export const WRITES = 2;
/** The command's only key is args[1]: it need not wait behind commands on other keys. */
export const ONE_KEY = 4;

/** Name, arity and flags of a command; its handler is the node's to define. */
export interface CommandSpec<H> {
  /** Lower case, as metrics label it and errors quote it. */
  readonly name: string;
  /**
   * Redis's convention: N > 0 takes exactly N arguments (the name included), -N at least N.
   * 0 leaves every check to the handler.
   */
  readonly arity: number;
  readonly flags: number;
  readonly handler: H;
}

/** A family: one file's commands, added to a registry by one call. */
export type CommandFamily<H> = (registry: CommandRegistry<H>) => void;

export class CommandRegistry<H> {
  /** Names by id; names[0] labels unknown commands. */
  readonly names: string[];
  readonly handlers: H[];
  /** Arity by id (see CommandSpec.arity); 0 for id 0. */
  private readonly arities: number[] = [0];
  /** Flags by id (REPLIES_LATER, WRITES …). */
  private readonly flagBits: number[] = [0];
  /** Each name's bytes, lower case, by id. */
  private readonly bytes: Buffer[] = [Buffer.alloc(0)];
  /** Open addressing over name hashes: a slot holds an id, 0 when empty. Power-of-two size. */
  private table = new Int32Array(64);
  private longest = 0;

  /** `unknown` labels the commands a node does not know (id 0), and handles them. */
  constructor(unknown: string, unknownHandler: H) {
    this.names = [unknown];
    this.handlers = [unknownHandler];
  }

  /** Adds one family's commands. */
  include(family: CommandFamily<H>): this {
    family(this);
    return this;
  }

  /** Adds a command; returns its id. */
  add(spec: CommandSpec<H>): number {
    const name = spec.name.toLowerCase();
    if (name.length === 0 || this.lookup(Buffer.from(name, "latin1")) !== 0) {
      throw new Error(`command '${name}' is registered twice or has no name`);
    }
    const id = this.names.length;
    this.names.push(name);
    this.handlers.push(spec.handler);
    this.bytes.push(Buffer.from(name, "latin1"));
    this.arities.push(spec.arity);
    this.flagBits.push(spec.flags);
    this.longest = Math.max(this.longest, name.length);
    if ((id + 1) * 2 > this.table.length) this.rehash(this.table.length * 2);
    else this.place(id);
    return id;
  }

  /** Commands registered (not counting id 0): COMMAND COUNT. */
  get size(): number {
    return this.names.length - 1;
  }

  /** The id of a registered name, in any case; throws when it is not registered. */
  id(name: string): number {
    const id = this.lookup(Buffer.from(name, "latin1"));
    if (id === 0) throw new Error(`command '${name}' is not registered`);
    return id;
  }

  arity(id: number): number {
    return this.arities[id] as number;
  }

  flags(id: number): number {
    return this.flagBits[id] as number;
  }

  /** Whether `argc` arguments (the name included) fit command `id`'s arity. */
  arityOk(id: number, argc: number): boolean {
    const arity = this.arities[id] as number;
    return arity > 0 ? argc === arity : argc >= -arity;
  }

  /** The id of the command named by `name` (any case), or 0. */
  lookup(name: Uint8Array): number {
    const n = name.length;
    if (n === 0 || n > this.longest) return 0;
    const table = this.table;
    const mask = table.length - 1;
    for (let slot = hashName(name) & mask; ; slot = (slot + 1) & mask) {
      const id = table[slot] as number;
      if (id === 0) return 0;
      if (sameName(this.bytes[id] as Buffer, name)) return id;
    }
  }

  private place(id: number): void {
    const table = this.table;
    const mask = table.length - 1;
    let slot = hashName(this.bytes[id] as Buffer) & mask;
    while (table[slot] !== 0) slot = (slot + 1) & mask;
    table[slot] = id;
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size);
    for (let id = 1; id < this.names.length; id++) this.place(id);
  }
}

/** FNV-1a over the bytes with ASCII case folded (bit 0x20 set), so both cases hash alike. */
function hashName(name: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h = Math.imul(h ^ ((name[i] as number) | 0x20), 0x01000193);
  }
  return h ^ (h >>> 15);
}

/** `given` equals the lower-case `known`, ASCII letters of `given` folded. */
function sameName(known: Buffer, given: Uint8Array): boolean {
  const n = known.length;
  if (given.length !== n) return false;
  for (let i = 0; i < n; i++) {
    let c = given[i] as number;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== known[i]) return false;
  }
  return true;
}
