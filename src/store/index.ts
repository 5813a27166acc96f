// The store's public surface: an LRU of binary keys and values with versions, expiries and
// tombstones (store.ts). Its hash and slab allocator stay internal.
export {
  ENTRY_OVERHEAD,
  EntryMeta,
  MAX_KEY_LENGTH,
  SCAN_BUCKET_BITS,
  SCAN_BUCKETS,
  STORE_MAX_BYTES,
  Store,
  ValueRef,
  type BucketVisitor,
  type ScanFilter,
  type ScanVisitor,
  type StoreOptions,
  type StoreStats,
} from "./store.js";
