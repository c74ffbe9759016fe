// step-ca, the command: Debian's golang-github-smallstep-certificates-dev ships the library with the
// command's start action (commands.AppCommand) but not cmd/step-ca. This is that main package, cut down
// to what the tests use (a local key, a ca.json written by the test); lib-stepca.sh builds it.
package main

import (
	"fmt"
	"os"

	"github.com/smallstep/certificates/commands"
	"github.com/urfave/cli"
)

func main() {
	app := cli.NewApp()
	app.Name = "step-ca"
	app.Usage = "an online certificate authority (test build)"
	app.UsageText = "step-ca CA.JSON [--resolver ADDRESS]"
	app.Action = commands.AppCommand.Action
	app.Flags = commands.AppCommand.Flags
	app.HideVersion = true
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
