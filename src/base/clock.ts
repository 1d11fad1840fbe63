// Time as an injected dependency: milliseconds since the epoch. Tests move it by assignment.
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();
