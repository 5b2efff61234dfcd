package cli

import (
	"github.com/spf13/cobra"
)

func newConfigCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Inspect the configuration"}
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration and where each value came from",
		Long: `show prints every configuration key with its effective value and its source: the default, the
config file (with line), an environment variable ($RTPIPELINE_MAX_WORKERS, $RTPIPELINE_CONFIGFILE)
or a flag. Precedence is flag > environment > config file > defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(cmd)
			if err != nil {
				return err
			}
			return cfg.Show(g.stdout)
		},
	}
	cmd.AddCommand(show)
	return cmd
}
