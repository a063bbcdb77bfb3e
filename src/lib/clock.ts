/** Milliseconds since the epoch: the service's one source of the current time, so tests can move it. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
