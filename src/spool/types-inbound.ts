/** spool/types-inbound — what inbound mail: asynchronous bounces and unsubscribes (src/inbound, src/public) need from the spool. */

// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface InboundStore {
}
