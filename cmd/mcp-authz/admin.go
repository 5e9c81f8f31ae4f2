package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcp-authz/mcp-authz/consent"
	"github.com/mcp-authz/mcp-authz/oauth"
	"github.com/mcp-authz/mcp-authz/server"
	"github.com/mcp-authz/mcp-authz/storage"
)

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, store, err := cf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintln(stdout, "The database schema is up to date.")
	return nil
}

func keysCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return errors.New("usage: mcp-authz keys rotate|list [--config FILE]")
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, false)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, store, err := cf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	km, err := server.Keys(cfg, store, newLogger("warn", "text", stderr))
	if err != nil {
		return err
	}
	if _, err := km.EnsureKey(ctx); err != nil {
		return err
	}
	if args[0] == "rotate" {
		kid, err := km.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "New signing key %s. Running servers pick it up within a minute; the previous key stays published until its tokens expire.\n", kid)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tCREATED\tSIGNING\tPUBLISHED UNTIL")
	for _, k := range km.Keys() {
		until := "-"
		if !k.UnpublishAt.IsZero() {
			until = k.UnpublishAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", k.ID, k.CreatedAt.Format(time.RFC3339), k.Signing, until)
	}
	return tw.Flush()
}

func usersCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: mcp-authz users add|passwd|list|show ...")
	}
	if args[0] == "show" {
		return usersShow(ctx, args[1:], stdout, stderr)
	}
	sub := args[0]
	fs := flag.NewFlagSet("users "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf configFlags
	cf.register(fs, false)
	email := fs.String("email", "", "the user's email address")
	name := fs.String("name", "", "the user's display name")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input instead of generating one")
	positional, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return err
	}
	_, store, err := cf.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer store.Close()

	switch sub {
	case "list":
		users, err := store.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tSUBJECT\tEMAIL\tDISABLED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", u.Username, u.ID, u.Email, u.Disabled)
		}
		return tw.Flush()
	case "add", "passwd":
		if len(positional) != 1 {
			return fmt.Errorf("usage: mcp-authz users %s NAME", sub)
		}
		password, generated, err := readOrGeneratePassword(stdin, *fromStdin)
		if err != nil {
			return err
		}
		hash, err := consent.HashPassword(password)
		if err != nil {
			return err
		}
		username := positional[0]
		if sub == "add" {
			err = store.CreateUser(ctx, storage.User{
				ID: server.NewUserID(), Username: username, PasswordHash: hash,
				Email: *email, Name: *name, CreatedAt: time.Now().UTC(),
			})
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("a user named %q exists already", username)
			}
		} else {
			var u *storage.User
			if u, err = store.GetUserByUsername(ctx, username); err == nil {
				u.PasswordHash = hash
				err = store.UpdateUser(ctx, *u)
			}
		}
		if err != nil {
			return err
		}
		if generated {
			fmt.Fprintf(stdout, "User %s can now sign in with the password: %s\n", username, password)
		} else {
			fmt.Fprintf(stdout, "User %s can now sign in with the password given.\n", username)
		}
		return nil
	default:
		return fmt.Errorf("unknown users command %q", sub)
	}
}

func readOrGeneratePassword(stdin io.Reader, fromStdin bool) (string, bool, error) {
	if !fromStdin {
		secret, _ := oauth.NewClientSecret()
		return secret[:20], true, nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, consent.MaxPasswordLength+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", false, err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 8 {
		return "", false, errors.New("the password must be at least 8 characters")
	}
	return pw, false, nil
}
