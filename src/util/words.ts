// Numbers in the sentences reports and logs are made of.

/** "1 epoch", "10 epochs". */
export const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** A share as "12.5 %". */
export const percent = (share: number) => `${(100 * share).toFixed(1)} %`;
