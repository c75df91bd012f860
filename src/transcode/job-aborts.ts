// Cancels and shutdowns reach every running live job of this worker, also one BullMQ no longer
// tracks: after a lost lock BullMQ may hand the same job id to this worker again, and its
// bookkeeping (one entry per job id) then forgets the first copy, which still runs ffmpeg.
export interface JobAborts {
  /** A signal for one run of the job: aborted by BullMQ's own signal, cancel(jobId) or cancelAll(). */
  track(jobId: string, bullSignal?: AbortSignal): { signal: AbortSignal; done(): void };
  cancel(jobId: string, reason: string): void;
  cancelAll(reason: string): void;
}

export function createJobAborts(): JobAborts {
  const running = new Map<AbortController, string>();
  return {
    track(jobId, bullSignal) {
      const own = new AbortController();
      const forward = () => own.abort(bullSignal?.reason);
      if (bullSignal?.aborted) forward();
      else bullSignal?.addEventListener('abort', forward, { once: true });
      running.set(own, jobId);
      return {
        signal: own.signal,
        done() {
          running.delete(own);
          bullSignal?.removeEventListener('abort', forward);
        },
      };
    },
    cancel(jobId, reason) {
      for (const [c, id] of running) if (id === jobId) c.abort(reason);
    },
    cancelAll(reason) {
      for (const c of running.keys()) c.abort(reason);
    },
  };
}
