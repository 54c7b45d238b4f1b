/** The part of the Store that lets gateway processes coordinate: named locks and published messages. */

export type Unsubscribe = () => void;

export interface Coordination {
  /** Takes a named lock for `ttlMs` if nobody holds it (one sweep per schedule tick across processes). */
  tryLock(name: string, owner: string, ttlMs: number, now: number): Promise<boolean>;
  publish(channel: string, message: string): Promise<void>;
  subscribe(channel: string, handler: (message: string) => void): Promise<Unsubscribe>;
  /**
   * -1 while published messages cannot be received; otherwise a number that changes each time the
   * subscription is (re)established. A cache kept fresh by messages is valid only while this holds
   * the value it had when the entry was made (messages may be lost while disconnected).
   */
  subscriptionEpoch(): number;
}
