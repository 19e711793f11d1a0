/** How often a crashed server is restarted: at most `limit` times in `windowMs`, then it stays down. */

export const CRASH_LIMIT = 5;
export const CRASH_WINDOW_MS = 3 * 60 * 1000;

export class CrashLimiter {
  private crashes: number[] = [];

  constructor(
    readonly limit: number = CRASH_LIMIT,
    readonly windowMs: number = CRASH_WINDOW_MS,
  ) {}

  /** Records a crash at `now` (ms); true when the server may be restarted once more. */
  crashed(now: number): boolean {
    this.crashes = this.crashes.filter((time) => now - time < this.windowMs);
    this.crashes.push(now);
    return this.crashes.length <= this.limit;
  }

  /** Forgets past crashes (the user restarted the server by hand). */
  reset(): void {
    this.crashes = [];
  }

  /** What the user is told when the server stays down. */
  giveUpMessage(): string {
    const minutes = Math.round(this.windowMs / 60000);
    return (
      `Free-S_Code: the language server stopped unexpectedly ${this.limit + 1} times in ${minutes} minutes and will not be restarted. ` +
      'See the "Free-S_Code" output for why, then run "Free-S_Code: Restart Server".'
    );
  }
}
