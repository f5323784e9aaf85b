/**
 * Crashes and restarts (cases/crashes.ts, C1–C3), storage faults (cases/storage-faults.ts, F1–F8) and the watcher
 * under crashes (cases/watcher.ts, W1–W2) in one file, so that their tests run concurrently: C1 spends two minutes
 * waiting out the heartbeat timeout by which Temporal notices a SIGKILLed worker, and the other cases use that time
 * instead of adding to the tier's runtime. C1 is registered first, so it starts first.
 */
import { crashTests } from './cases/crashes';
import { storageFaultTests } from './cases/storage-faults';
import { watcherTests } from './cases/watcher';

crashTests();
storageFaultTests();
watcherTests();
