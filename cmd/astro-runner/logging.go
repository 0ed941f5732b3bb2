package main

import (
	"io"
	"log/slog"
	"time"

	"github.com/lmittmann/tint"

	"github.com/astro-runner/astro-runner/internal/config"
)

// newLogger returns the process's logger, writing to w at level. format
// picks the handler: text is lmittmann/tint's human-readable lines
// (coloured when w is a terminal), json is slog's JSON handler, and auto
// is text on a terminal and JSON otherwise. Either way durations read with
// units ("1.5s"), not as nanosecond counts.
func newLogger(w io.Writer, level string, format config.LogFormat, terminal bool) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // config.Load checked it.
	if format == config.LogFormatText || (format == config.LogFormatAuto && terminal) {
		return slog.New(tint.NewTextHandler(w, &tint.Options{
			Level:      l,
			TimeFormat: "15:04:05.000",
			NoColor:    !terminal,
		}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l, ReplaceAttr: durationText}))
}

// durationText renders a time.Duration attribute as its String form
// ("1.5s"); slog's JSON handler would write it in nanoseconds.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().Round(time.Microsecond).String())
	}
	return a
}
