/**
 * A sleep that another caller can end early — `stop()` or `relist()` wake a loop waiting for its next retry.
 * Timers and promises only; shared by the list-watch loop and the leader elector.
 */
export class InterruptibleSleep {
  private wakeUp: (() => void) | undefined;

  /** Resolves after `ms`, or earlier when {@link wake} is called. One sleep at a time. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    }).finally(() => { this.wakeUp = undefined; });
  }

  /** Ends the current sleep now; does nothing when nobody sleeps. */
  wake(): void {
    this.wakeUp?.();
  }
}
