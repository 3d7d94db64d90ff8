package queue

import (
	"encoding/json"
	"strings"

	"github.com/sportello-virtuale/sportello/cluster"
)

// describeCommands sums up the queue's commands for the audit log (rows
// are written for commands proposed with an actor: the operators'). The
// summaries name tickets, offices and desks by ID; never a secret's hash
// nor a booking code, which leads to a citizen.
func describeCommands(reg *cluster.Registry) {
	for _, typ := range []string{CmdConfigure, CmdTake, CmdCancel, CmdCall, CmdStart, CmdServed, CmdNoShow, CmdRecall} {
		reg.Describe(typ, describe)
	}
}

// describe decodes only the ID fields of any queue payload.
func describe(cmd cluster.Command) string {
	var ids struct {
		ID       string `json:"id"`
		OfficeID string `json:"office_id"`
		Desk     string `json:"desk"`
		Config   struct {
			OfficeID string `json:"office_id"`
		} `json:"config"`
	}
	if json.Unmarshal(cmd.Payload, &ids) != nil {
		return ""
	}
	var parts []string
	for _, kv := range [][2]string{{"ticket", ids.ID}, {"office", ids.OfficeID + ids.Config.OfficeID}, {"desk", ids.Desk}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}
