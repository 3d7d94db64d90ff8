package auth

import (
	"encoding/json"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
)

// describeCommands tells the cluster's audit log how to sum up the
// back-office commands of the package: the IDs of the provider or user
// they change and, for grants, the roles and offices given. Nothing else
// of the payload (secrets, identities) reaches the log.
func describeCommands(reg *cluster.Registry) {
	provider := func(cmd cluster.Command) string {
		var p struct {
			ID       string `json:"id"`
			Provider struct {
				ID string `json:"id"`
			} `json:"provider"`
		}
		if json.Unmarshal(cmd.Payload, &p) != nil {
			return ""
		}
		return "provider=" + p.ID + p.Provider.ID
	}
	reg.Describe(CommandProviderSave, provider)
	reg.Describe(CommandProviderDelete, provider)
	user := func(cmd cluster.Command) string {
		var p userPayload
		if json.Unmarshal(cmd.Payload, &p) != nil {
			return ""
		}
		var b strings.Builder
		b.WriteString("user=" + p.UserID)
		switch cmd.Type {
		case CommandUserDisable:
			if p.Disabled {
				b.WriteString(" disabled=true")
			} else {
				b.WriteString(" disabled=false")
			}
		case CommandUserGrants:
			b.WriteString(" grants=")
			b.WriteString(FormatGrants(p.Grants))
		}
		return b.String()
	}
	reg.Describe(CommandUserEndAll, user)
	reg.Describe(CommandUserDisable, user)
	reg.Describe(CommandUserGrants, user)
}

// FormatGrants writes grants in the compact form of the audit log:
// "operator:anagrafe+tributi,supervisor", or "-" for none.
func FormatGrants(gs []Grant) string {
	if len(gs) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(gs))
	for _, g := range gs {
		s := string(g.Role)
		if len(g.Offices) > 0 {
			s += ":" + strings.Join(g.Offices, "+")
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ",")
}
