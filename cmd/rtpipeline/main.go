// Command rtpipeline is the radiotherapy DICOM-RT research pipeline; see `rtpipeline --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/rtpipeline/rtpipeline/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
