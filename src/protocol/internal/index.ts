// The internal commands between masters and auxiliary nodes. Each command's client-side
// encoder (used by masters) and server-side parser (used by auxiliary nodes) live together
// here, so both ends share one contract.
//
// Versions are hybrid-logical-clock numbers (see clock/hlc.ts); expiries are absolute Unix
// milliseconds, 0 meaning none. Both travel as decimal integers.
//
// command                                   reply
// RC.PUT key value version expiresAt        :1 applied | :-V not applied, V = newer or equal version held
// RC.MPUT n [key value version expiresAt]×n *n of the RC.PUT replies, in order
// RC.GET key                                *3 [value version pttl] live | *3 [nil version -2] tombstone | *-1 nothing
// RC.GET key WITHEXPIRY                     the same with a fourth item, the absolute expiry (0: none)
// RC.DEL key version                        :1 removed a live entry | :0 no live entry (tombstone kept) | :-V newer held
// RC.CDEL key version                       :1 removed (its version was exactly `version`) | :0 not
// RC.MCDEL n [key version]×n                :m the number removed (RC.CDEL of each, one reply)
// RC.EXPIRE key expiresAt version           :1 applied | :0 no live entry | :-V newer held
// RC.INCRBY key delta version               *2 [newValue expiresAt] | -ERR not an integer | -STALE V
//                                           (masters send RC.MODIFY … INCRBY; kept for older ones)
// RC.MODIFY key version limit op [arg ...]  *4 [effect value expiresAt answer] | -ERR … | -STALE V
//                                           a read-modify-write on the first owner: modify.ts
// RC.SCAN cursor count [RANGES s e ...]     *2 [nextCursor *5n[key value version expiresAt tombstone]]
//                                           ranges: half-open [s, e) of the ring hash of the key
//                                           count: store slots visited per page, so a page may
//                                           hold fewer entries (even none); go on until cursor 0
// RC.SCANPAGE cursor count [RANGES s e ...] *2 [nextCursor $page]: RC.SCAN's entries as one
//                                           entry page (protocol/page.ts); a page also ends
//                                           early once it holds about SCAN_PAGE_BYTES
// RC.SCANPAGE cursor count RANGESID id      as above, with ranges this node was sent in full
//                                           before (id = rangesId of them); -ERR when it does
//                                           not hold them (any more): send them in full
// RC.PUTPAGE page                           :n applied; each entry as RC.PUT would apply it, a
//                                           tombstone as RC.DEL; the page is checked whole first
// RC.CDELPAGE page                          :n removed (RC.CDEL of each entry's key and version)
// RC.KEYSCAN from to count [TOMBS] [TYPE t] [MATCH p] [RANGES s e ...]
//                                           *3 [next examined *2n[key version]]: keys of whole scan
//                                           buckets (hashKey >>> 16) from `from`, see keyscan.ts
// RC.STATS                                  $json of the store's counters and limits
// RC.FLUSH version                          :1 everything at or below `version` is gone, and
//                                           writes at or below it are refused (a floor)
// BGSAVE / LASTSAVE                         as in Redis: start a snapshot / time of the last one
//
// A move's steps carry the term of the leader that takes them
// (docs/design.md, "Coordination through etcd"): RC.SCANPAGE cursor count TERM t [RANGES ...],
// RC.PUTPAGE TERM t page, RC.CDELPAGE TERM t page, RC.CDEL key version TERM t, RC.STATS TERM t.
// A node keeps the highest term it has seen and refuses a step of an older one: -FENCED move
// step of term 5 but term 7 has begun. Without TERM (term 0: built-in coordination) a step is
// never refused.
//
// Versions are positive: a refused write replies the held version negated, and :-0 would
// read as :0. A write at or below the flush floor is refused with the floor as the held version.
//
// One place for the contract: wire.ts (names, numbers, the write status), entries.ts (commands on
// one entry and on the whole node), modify.ts (read-modify-writes), scan.ts (streams of entries
// and the pages of a move), keyscan.ts (the keys of scan buckets, for SCAN, KEYS and RANDOMKEY).
export * from "./entries.js";
export * from "./keyscan.js";
export * from "./modify.js";
export * from "./scan.js";
export * from "./wire.js";
