/** "1 epoch", "10 epochs": counts in the sentences reports are made of. */
export const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
