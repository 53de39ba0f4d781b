// Package shipper sends encoded GELF messages to OVHcloud Logs Data
// Platform or Graylog, and reports which messages the server received so
// the caller can checkpoint its input only past them. Endpoints:
//
//   - tls://HOST[:PORT]: GELF over TCP and TLS ≥ 1.2 (LDP's port 12202);
//   - tcp://HOST[:PORT]: GELF over plain TCP;
//   - udp://HOST[:PORT]: GELF over UDP, compressed and chunked;
//   - http://HOST[:PORT][/PATH] and https://...: GELF over HTTP (Graylog's
//     GELF HTTP input), one message or a bulk of them per request;
//   - "-": one JSON message per line on standard output.
//
// What "received" means depends on the transport. GELF over TCP has no
// application acknowledgement: there it means the server's TCP stack
// acknowledged the bytes of the message (on Linux: bytes written − ioctl
// SIOCOUTQ), the connection stayed established for a short grace period
// afterwards, and nothing was read from it (a GELF input never sends data,
// so any read result means the connection is dead). Over HTTP it is the
// input's 2xx answer; over UDP only that the kernel took the datagrams (UDP
// gives no delivery guarantee); on standard output, the write returning.
// Messages not confirmed are kept in a bounded replay window and written
// again, in order, after every reconnect or refused request: delivery is
// at least once, with duplicates bounded by the window. See [Shipper] for
// the design.
//
// Usage:
//
//	s, err := shipper.New(cfg, log, func(seq uint64) { /* checkpoint up to seq */ })
//	if err := s.Connect(ctx); err != nil { /* clear start-up error */ }
//	go s.Run(ctx)
//	b := s.NewBatch()
//	err = b.Add(msg)              // for each message of a batch
//	first, n, err := b.Send(ctx) // blocks while the window is full
//	err = s.Close(shutdownCtx)   // waits for confirmation
package shipper
