/**
 * Turns of the event loop for GraphQL work, one at a time.
 *
 * Every request shares the one thread. A verification is answered in the I/O callback that
 * reads it, with no promise to wait on, but it waits for whatever that turn of the event loop
 * runs before it: when 64 listings are under way, the continuations of every page whose rows
 * just came back (resolvers, the next statement, serialisation, the write) would all run in
 * one turn.
 *
 * A request's work therefore resumes through {@link next} at the points where it would run
 * longest without I/O in between (its start, each statement's rows, its serialisation, its
 * write to the socket): one waiter resumes per turn of the loop, in order, and I/O callbacks
 * run between two. Listings keep their order and their throughput (a turn with nothing to read
 * costs microseconds), and a verification waits for at most one stretch of GraphQL work
 * instead of all of them.
 */
export class Turns {
  private readonly waiting: (() => void)[] = [];
  private scheduled = false;

  /** Resolves in a later turn of the event loop, after the work that asked before. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.schedule();
    });
  }

  /** Work waiting for its turn. */
  get length(): number {
    return this.waiting.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // an immediate queued while immediates run waits for the next turn, after its I/O callbacks
    setImmediate(this.resume);
  }

  private readonly resume = (): void => {
    this.scheduled = false;
    this.waiting.shift()?.();
    if (this.waiting.length > 0) this.schedule();
  };
}

/** The process's one event loop, shared by every request. */
export const graphqlTurns = new Turns();
