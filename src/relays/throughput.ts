// Bytes sent and the bitrate over the last few seconds, for a relay's status.

const WINDOW_MS = 5_000;
const SAMPLE_MS = 1_000;

export class Throughput {
  total = 0;
  private samples: { at: number; total: number }[] = [{ at: Date.now(), total: 0 }];
  private timer: NodeJS.Timeout | null = setInterval(() => this.sample(), SAMPLE_MS).unref();

  add(bytes: number): void {
    this.total += bytes;
  }

  /** kbit/s over the last ~5 s (since the start when younger). */
  kbps(now = Date.now()): number {
    const oldest = this.samples[0]!;
    const ms = now - oldest.at;
    return ms <= 0 ? 0 : Math.round(((this.total - oldest.total) * 8) / ms);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(now = Date.now()): void {
    this.samples.push({ at: now, total: this.total });
    while (this.samples.length > 1 && now - this.samples[0]!.at > WINDOW_MS) this.samples.shift();
  }
}
