// The versions every node reports, in one place (docs/design.md, "Client interfaces").

/** What HELLO and INFO report as redis_version: clients pick features by it. */
export const REDIS_VERSION = "7.0.0";

/** ringcache's own version (INFO's ringcache_version, the CLI's --version, /v1/cluster). */
export const RINGCACHE_VERSION = "0.1.0";
