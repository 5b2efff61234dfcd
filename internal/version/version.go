// Package version holds the rtpipeline version written into every report and sidecar.
package version

// Version is the release version; builds may override it with
// -ldflags "-X github.com/rtpipeline/rtpipeline/internal/version.Version=...".
var Version = "0.1.0-dev"
