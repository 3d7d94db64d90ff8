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
	for _, typ := range []string{CmdConfigure, CmdTake, CmdCancel, CmdCall, CmdStart, CmdServed, CmdNoShow, CmdRecall,
		CmdTransfer, CmdPark, CmdResume, CmdPauseDesk, CmdResumeDesk} {
		reg.Describe(typ, describe)
	}
}

// describe decodes only the ID fields of any queue payload: never a
// desk's pause reason, which is free text an operator may fill with
// anything ("visita medica").
func describe(cmd cluster.Command) string {
	var ids struct {
		ID         string `json:"id"`
		TicketID   string `json:"ticket_id"`
		OfficeID   string `json:"office_id"`
		Desk       string `json:"desk"`
		ToOfficeID string `json:"to_office_id"`
		ToDesk     string `json:"to_desk"`
		Config     struct {
			OfficeID string `json:"office_id"`
		} `json:"config"`
	}
	if json.Unmarshal(cmd.Payload, &ids) != nil {
		return ""
	}
	var parts []string
	for _, kv := range [][2]string{{"ticket", ids.ID + ids.TicketID}, {"office", ids.OfficeID + ids.Config.OfficeID}, {"desk", ids.Desk},
		{"to_office", ids.ToOfficeID}, {"to_desk", ids.ToDesk}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}
