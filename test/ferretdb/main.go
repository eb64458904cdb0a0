// Command recon-ferretdb runs an embedded FerretDB (SQLite backend) on
// loopback for recon's tests. Embedding the library avoids the
// version.txt panic of the stand-alone binary and keeps telemetry off.
//
// Usage: recon-ferretdb -listen 127.0.0.1:PORT -dir /abs/data/dir
// Prints "Listening on TCP <addr>" once the listener accepts connections.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP listen address")
	dir := flag.String("dir", "", "directory for SQLite files (created if missing)")
	flag.Parse()

	if *dir == "" {
		log.Fatal("-dir is required")
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		log.Fatal(err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	done := make(chan struct{})
	go func() {
		f.Run(ctx)
		close(done)
	}()

	fmt.Printf("Listening on TCP %s\n", *listen)
	os.Stdout.Sync()
	<-done
}
