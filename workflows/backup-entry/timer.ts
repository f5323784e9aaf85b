/**
 * The one timer the loop sleeps on (samples-typescript's `updatable-timer`): the retention deadline or a retry's
 * backoff. It is kept across signals while its wake-up time stays the same, so a retention that sees a hundred
 * signals still writes one TimerStarted per deadline value; a new deadline (extend) cancels it and starts another.
 */
import { CancellationScope, condition, isCancellation, sleep } from '@temporalio/workflow';

export class WakeTimer {
  private at?: number;
  private scope?: CancellationScope;
  private fired = false;

  /**
   * Waits until `wake()` holds (true) or the time `wakeAt` (epoch ms, workflow time) has come (false). `Infinity`:
   * no timer at all; a time already past: false at once.
   */
  async wait(wakeAt: number, summary: string, wake: () => boolean): Promise<boolean> {
    if (wakeAt !== this.at) this.clear();
    if (wakeAt === Infinity) return condition(wake).then(() => true);
    if (wakeAt <= Date.now()) return false;
    if (this.at === undefined) this.start(wakeAt, summary);
    await condition(() => wake() || this.fired);
    if (!this.fired) return true;
    this.at = undefined;
    this.scope = undefined;
    return false;
  }

  private start(wakeAt: number, summary: string): void {
    this.at = wakeAt;
    this.fired = false;
    const scope = new CancellationScope();
    this.scope = scope;
    void scope
      .run(() => sleep(wakeAt - Date.now(), { summary }))
      .then(
        () => {
          if (this.scope === scope) this.fired = true;
        },
        (err: unknown) => {
          if (!isCancellation(err)) throw err;
        },
      );
  }

  private clear(): void {
    this.scope?.cancel();
    this.scope = undefined;
    this.at = undefined;
    this.fired = false;
  }
}
