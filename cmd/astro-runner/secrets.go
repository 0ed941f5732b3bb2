package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// openSecretBox returns the Box of the configured secret key, after
// checking at start-up that it is the key the stored secrets were
// encrypted with (and recording it, on first use). Without a key it
// returns nil: the secret routes then answer 409 and runs that use secrets
// fail, which it warns about if secrets are stored.
func openSecretBox(ctx context.Context, cfg *config.Config, store storage.Store, log *slog.Logger) (*secret.Box, error) {
	if cfg.SecretKey == nil {
		list, err := store.SecretList(ctx)
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		if len(list) > 0 {
			log.Warn("secrets are stored but no secret key is set: the secret routes answer 409 and runs of plans "+
				"that use secrets end in error; set ASTRO_SECRET_KEY or ASTRO_SECRET_KEY_FILE", "secrets", len(list))
		}
		return nil, nil
	}
	box, err := secret.New(cfg.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("ASTRO_SECRET_KEY: %w", err)
	}
	err = secret.CheckKey(ctx, store, box)
	if errors.Is(err, secret.ErrWrongKey) {
		return nil, errors.New("ASTRO_SECRET_KEY does not match the key the stored secrets were encrypted with; " +
			"start with the key used before, or, to change keys, run `astro-runner secrets rotate` with both keys first")
	}
	if err != nil {
		return nil, fmt.Errorf("check secret key: %w", err)
	}
	return box, nil
}

func (c *cli) newSecretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets rotate",
		Short: "Manage the key of the stored secrets",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			return usageError(errors.New("usage: astro-runner secrets rotate --new-key-file FILE"))
		},
	}
	var newKeyFile string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Re-encrypt every stored secret with a new key, in one transaction",
		Long: `Re-encrypt every stored secret, and the key check value, from the current
key (ASTRO_SECRET_KEY or ASTRO_SECRET_KEY_FILE) to a new one (--new-key-file
FILE, a file of 32 raw bytes or of their base64, or ASTRO_NEW_SECRET_KEY in
base64), in one transaction: either every value moves to the new key or
none does. It prints how many secrets it re-encrypted.

Afterwards every server and worker must be restarted with the new key as
ASTRO_SECRET_KEY: one still running with the old key cannot read the
secrets, and one started with the old key refuses to start.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := c.load()
			if err != nil {
				return err
			}
			return c.rotate(cmd.Context(), cfg, newKeyFile)
		},
	}
	rotate.Flags().StringVar(&newKeyFile, "new-key-file", "", "file holding the new key: 32 raw bytes, or their base64 (instead of ASTRO_NEW_SECRET_KEY)")
	cmd.AddCommand(rotate)
	return cmd
}

// rotate re-encrypts the stored secrets under the new key.
func (c *cli) rotate(ctx context.Context, cfg *config.Config, newKeyFile string) error {
	if cfg.Backend == config.BackendMemory {
		return errors.New("STORAGE_BACKEND=memory keeps no secrets to rotate; set STORAGE_BACKEND to sqlite or postgres")
	}
	if cfg.SecretKey == nil {
		return errors.New("ASTRO_SECRET_KEY (or ASTRO_SECRET_KEY_FILE) must hold the current key")
	}
	newKey, err := config.LoadSecretKey(c.lookup, "ASTRO_NEW_SECRET_KEY", "")
	if err != nil {
		return err
	}
	switch {
	case newKeyFile != "" && newKey != nil:
		return usageError(errors.New("--new-key-file and ASTRO_NEW_SECRET_KEY are both set: set only one"))
	case newKeyFile != "":
		if newKey, err = secret.ReadKeyFile(newKeyFile); err != nil {
			return fmt.Errorf("--new-key-file: %w", err)
		}
	case newKey == nil:
		return usageError(errors.New("the new key is missing: pass --new-key-file FILE or set ASTRO_NEW_SECRET_KEY"))
	}
	old, err := secret.New(cfg.SecretKey)
	if err != nil {
		return fmt.Errorf("ASTRO_SECRET_KEY: %w", err)
	}
	next, err := secret.New(newKey)
	if err != nil {
		return fmt.Errorf("new key: %w", err)
	}
	store, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := secret.Rotate(ctx, store, old, next)
	switch {
	case errors.Is(err, secret.ErrWrongKey):
		return errors.New("ASTRO_SECRET_KEY does not match the key the stored secrets were encrypted with: nothing changed")
	case errors.Is(err, secret.ErrDecrypt):
		return fmt.Errorf("nothing changed: %w", err)
	case err != nil:
		return fmt.Errorf("rotate secrets: %w", err)
	}
	fmt.Fprintf(c.stdout, "re-encrypted %d secrets with the new key; restart every server and worker with it as ASTRO_SECRET_KEY\n", n)
	return nil
}
