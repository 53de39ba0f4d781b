// Package shipper sends encoded GELF messages to OVHcloud Logs Data
// Platform or Graylog over TCP+TLS (tls://), plain TCP (tcp://), or to
// standard output ("-"), and reports which messages the server received so
// the caller can checkpoint its input only past them.
//
// GELF over TCP has no application acknowledgement. "Received" here means
// the server's TCP stack acknowledged the bytes of the message (on Linux:
// bytes written − ioctl SIOCOUTQ), the connection stayed established for a
// short grace period afterwards, and nothing was read from it (a GELF input
// never sends data, so any read result means the connection is dead).
// Messages not confirmed are kept in a bounded replay window and written
// again, in order, after every reconnect: delivery is at least once, with
// duplicates bounded by the window. See [Shipper] for the design.
//
// Usage:
//
//	s, err := shipper.New(cfg, log, func(seq uint64) { /* checkpoint up to seq */ })
//	if err := s.Connect(ctx); err != nil { /* clear start-up error */ }
//	go s.Run(ctx)
//	seq, err := s.Send(ctx, msg) // blocks while the window is full
//	err = s.Close(shutdownCtx)   // waits for confirmation
package shipper
