// The worker thread a master's backup compacts in (see backup.ts): the job comes as workerData,
// the result goes back as one message. Decoding a full backup takes seconds, which the master's
// event loop must not wait for.
import { parentPort, workerData } from "node:worker_threads";
import { compactFiles, type CompactionJob } from "./backup-file.js";

parentPort?.postMessage(compactFiles(workerData as CompactionJob));
