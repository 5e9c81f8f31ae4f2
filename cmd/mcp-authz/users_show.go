package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/storage"
)

// usersShow prints one user and the upstream identities linked to it:
//
//	mcp-authz users show NAME [--config FILE]
//
// NAME is a username, or a subject (upstream users' usernames are their subjects).
func usersShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("users show", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, false)
	positional, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(positional) != 1 {
		return errors.New("usage: mcp-authz users show NAME [--config FILE]")
	}
	_, store, err := cf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer store.Close()

	u, err := store.GetUserByUsername(ctx, positional[0])
	if errors.Is(err, storage.ErrNotFound) {
		u, err = store.GetUser(ctx, positional[0])
	}
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("no user %q", positional[0])
	}
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "username:\t%s\n", u.Username)
	fmt.Fprintf(tw, "subject:\t%s\n", u.ID)
	fmt.Fprintf(tw, "email:\t%s\n", u.Email)
	fmt.Fprintf(tw, "name:\t%s\n", u.Name)
	fmt.Fprintf(tw, "password:\t%v\n", u.PasswordHash != "")
	fmt.Fprintf(tw, "disabled:\t%v\n", u.Disabled)
	fmt.Fprintf(tw, "created:\t%s\n", u.CreatedAt.UTC().Format(time.RFC3339))
	if err := tw.Flush(); err != nil {
		return err
	}

	ids, err := consent.UserIdentities(ctx, store, u.ID)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		fmt.Fprintln(stdout, "\nNo upstream identities.")
		return nil
	}
	fmt.Fprintln(stdout, "\nUpstream identities:")
	tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tISSUER\tSUB\tEMAIL\tLINKED\tLAST SIGN-IN")
	for _, id := range ids {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", id.Provider, id.Issuer, id.Subject, id.Email,
			id.CreatedAt.UTC().Format(time.RFC3339), id.LastSignIn.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}
