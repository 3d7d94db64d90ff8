package booking

import (
	"encoding/json"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
)

// Audit summaries of the back office's commands. The audit log
// (cluster/audit.go) writes one row per command proposed by a logged-in
// user, with the summary its type's describer returns. The summaries
// below name the objects of a command by ID only: an office's or
// service's name is not personal, but a closure's reason is free text an
// administrator typed, and the log is kept for a year and shown to every
// administrator of the Comune, so nothing typed goes in. Each describer
// decodes only the ID fields of its payload, so a citizen's data or a
// text cannot reach the summary even by mistake.
//
// The operator's commands on a booking (arrive, serve, no-show, note,
// office cancel) are described where they are registered (outcome.go),
// by booking and office ID, for the same reason.

// describeCommands registers the describers of the back office's
// commands; booking.Register calls it after every command is handled.
func describeCommands(reg *cluster.Registry) {
	reg.Describe(CmdOfficeSave, describeOfficeSave)
	reg.Describe(CmdServiceSave, describeServiceSave)
	reg.Describe(CmdClosureAdd, describeClosureAdd)
	reg.Describe(CmdOpeningAdd, describeOpeningAdd)
	reg.Describe(CmdOfficeArchive, describeArchive("office"))
	reg.Describe(CmdServiceArchive, describeArchive("service"))
	reg.Describe(CmdClosureRemove, describeRemove("closure"))
	reg.Describe(CmdOpeningRemove, describeRemove("opening"))
}

// idsOf decodes the ID fields of cmd's payload into v, a struct that
// declares only them. Unlike cluster.Command.Decode it ignores the other
// fields: they are what the describer must not see.
func idsOf(cmd cluster.Command, v any) error {
	return json.Unmarshal(cmd.Payload, v)
}

// summary joins key=value pairs, leaving out empty values. It returns ""
// (the audit row then shows the type) when every value is empty.
func summary(kv ...string) string {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			parts = append(parts, kv[i]+"="+kv[i+1])
		}
	}
	return strings.Join(parts, " ")
}

func describeOfficeSave(cmd cluster.Command) string {
	var p struct {
		Office struct {
			ID string `json:"id"`
		} `json:"office"`
	}
	if idsOf(cmd, &p) != nil {
		return ""
	}
	return summary("office", p.Office.ID)
}

func describeServiceSave(cmd cluster.Command) string {
	var p struct {
		Service struct {
			ID       string `json:"id"`
			OfficeID string `json:"office_id"`
		} `json:"service"`
	}
	if idsOf(cmd, &p) != nil {
		return ""
	}
	return summary("service", p.Service.ID, "office", p.Service.OfficeID)
}

func describeClosureAdd(cmd cluster.Command) string {
	var p struct {
		Closure struct {
			ID       string `json:"id"`
			OfficeID string `json:"office_id"`
		} `json:"closure"`
	}
	if idsOf(cmd, &p) != nil {
		return ""
	}
	office := p.Closure.OfficeID
	if office == "" {
		// A closure without office closes every office of the Comune.
		office = "*"
	}
	return summary("closure", p.Closure.ID, "office", office)
}

func describeOpeningAdd(cmd cluster.Command) string {
	var p struct {
		Opening struct {
			ID       string `json:"id"`
			OfficeID string `json:"office_id"`
		} `json:"opening"`
	}
	if idsOf(cmd, &p) != nil {
		return ""
	}
	return summary("opening", p.Opening.ID, "office", p.Opening.OfficeID)
}

// describeArchive sums up archiving (or restoring) an office or service.
func describeArchive(kind string) func(cluster.Command) string {
	return func(cmd cluster.Command) string {
		var p archivePayload
		if cmd.Decode(&p) != nil || p.ID == "" {
			return ""
		}
		if p.Archived {
			return kind + "=" + p.ID + " archived"
		}
		return kind + "=" + p.ID + " restored"
	}
}

// describeRemove sums up removing a closure or an extra opening.
func describeRemove(kind string) func(cluster.Command) string {
	return func(cmd cluster.Command) string {
		var p removePayload
		if cmd.Decode(&p) != nil {
			return ""
		}
		return summary(kind, p.ID)
	}
}
