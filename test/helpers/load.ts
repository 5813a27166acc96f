// Background client load for tests that watch a cluster's metrics: RESP commands that hit,
// miss and fail (INCR of a non-integer), and HTTP writes and reads, until stopped.
import { RespTestClient } from "./resp-client.js";
import { sleep } from "./wait.js";

export interface LoadCounts {
  resp: number;
  http: number;
  failures: number;
}

export class BackgroundLoad {
  readonly counts: LoadCounts = { resp: 0, http: 0, failures: 0 };
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(respPort: number, httpPort: number) {
    this.loops = [this.resp(respPort), this.http(httpPort)];
  }

  private async resp(port: number): Promise<void> {
    const client = await RespTestClient.connect(port);
    try {
      for (let round = 0; this.running; round++) {
        const batch: string[][] = [];
        for (let i = 0; i < 20; i++) {
          const key = `load:${(round * 20 + i) % 500}`;
          batch.push(["SET", key, `v${round}`], ["GET", key], ["GET", `missing:${i}`]);
        }
        batch.push(["SET", "load:text", "not a number"], ["INCR", "load:text"]);
        await client.pipeline(batch);
        this.counts.resp += batch.length;
        await sleep(20);
      }
    } finally {
      client.close();
    }
  }

  private async http(port: number): Promise<void> {
    for (let i = 0; this.running; i++) {
      const url = `http://127.0.0.1:${port}/v1/keys/http%3A${i % 100}`;
      try {
        const put = await fetch(url, { method: "PUT", body: `value-${i}` });
        await put.arrayBuffer();
        const get = await fetch(url);
        await get.arrayBuffer();
        if (put.status !== 204 || get.status !== 200) this.counts.failures++;
      } catch {
        this.counts.failures++;
      }
      this.counts.http += 2;
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}
