package assistant

import "strings"

// DemoService is one service of the demo Comune's catalogue: the offices
// and services of a mid-size Italian Comune, written for Sportello, with
// which the lead seeds the demo tenant and the tests measure the ranking.
type DemoService struct {
	ID       string
	OfficeID string
	Office   string
	Name     string
	// Category is one of the Designers Italia service categories.
	Category    string
	Description string
	Bring       []string
	Synonyms    []string
	FAQ         []string
	// Minutes is the length of one appointment.
	Minutes int
}

// DemoOffice is an office of the demo Comune.
type DemoOffice struct {
	ID, Name, Address, Phone, Email string
}

// DemoOffices returns the offices of the demo catalogue.
func DemoOffices() []DemoOffice {
	return []DemoOffice{
		{"anagrafe", "Anagrafe", "Piazza del Municipio 1, piano terra", "080 000 1001", "anagrafe@comune.example.it"},
		{"stato-civile", "Stato civile", "Piazza del Municipio 1, primo piano", "080 000 1002", "statocivile@comune.example.it"},
		{"elettorale", "Ufficio elettorale", "Piazza del Municipio 1, piano terra", "080 000 1003", "elettorale@comune.example.it"},
		{"tributi", "Tributi", "Via Roma 12", "080 000 1010", "tributi@comune.example.it"},
		{"polizia-locale", "Polizia locale", "Via dei Vigili 3", "080 000 1020", "polizialocale@comune.example.it"},
		{"servizi-sociali", "Servizi sociali", "Via Garibaldi 8", "080 000 1030", "servizisociali@comune.example.it"},
		{"scuola", "Pubblica istruzione", "Via Garibaldi 8, secondo piano", "080 000 1040", "istruzione@comune.example.it"},
		{"edilizia", "Edilizia privata (SUE)", "Via Roma 14, ufficio tecnico", "080 000 1050", "sue@comune.example.it"},
		{"ambiente", "Ambiente", "Via Roma 14, terzo piano", "080 000 1060", "ambiente@comune.example.it"},
		{"urp", "URP - Ufficio relazioni con il pubblico", "Piazza del Municipio 1, ingresso", "080 000 1000", "urp@comune.example.it"},
	}
}

// DemoCatalogue returns the services of the demo Comune.
func DemoCatalogue() []DemoService {
	const (
		anagrafe = "Anagrafe e stato civile"
		tributi  = "Tributi, finanze e contravvenzioni"
		mobil    = "Mobilità e trasporti"
		salute   = "Salute, benessere e assistenza"
		scuola   = "Educazione e formazione"
		catasto  = "Catasto e urbanistica"
		ambiente = "Ambiente"
		autor    = "Autorizzazioni"
	)
	offices := make(map[string]string)
	for _, o := range DemoOffices() {
		offices[o.ID] = o.Name
	}
	s := []DemoService{
		// Anagrafe.
		{ID: "cie", OfficeID: "anagrafe", Name: "Carta d'identità elettronica (CIE)", Category: anagrafe, Minutes: 20,
			Description: "Rilascio e rinnovo della carta d'identità elettronica per i residenti: primo rilascio, documento scaduto o in scadenza nei prossimi sei mesi, deteriorato, smarrito o rubato. La carta arriva per posta entro pochi giorni lavorativi.",
			Bring:       []string{"Una fototessera recente su sfondo chiaro", "La carta d'identità scaduta o deteriorata", "La denuncia di smarrimento o furto, se il documento è andato perso", "La tessera sanitaria con il codice fiscale", "Per i minori: entrambi i genitori o l'assenso scritto di chi non è presente"},
			Synonyms:    []string{"CIE", "documento d'identità", "rinnovo carta d'identità", "carta di identità scaduta"},
			FAQ:         []string{"Quanto costa la carta d'identità?", "Posso fare la carta d'identità per mio figlio minorenne?", "Cosa faccio se ho perso la carta d'identità?"}},
		{ID: "residenza", OfficeID: "anagrafe", Name: "Cambio di residenza e di indirizzo", Category: anagrafe, Minutes: 30,
			Description: "Dichiarazione di residenza per chi arriva da un altro Comune o dall'estero e cambio di indirizzo all'interno del Comune. La polizia locale verifica la dimora abituale entro 45 giorni.",
			Bring:       []string{"Documento d'identità di tutte le persone che si trasferiscono", "Codice fiscale", "Contratto di affitto registrato, atto di proprietà o comodato", "Patente e libretti dei veicoli intestati, per aggiornare gli indirizzi"},
			Synonyms:    []string{"trasferimento di residenza", "nuova residenza", "cambio indirizzo"},
			FAQ:         []string{"Quanto tempo ci vuole per il cambio di residenza?", "Posso spostare la residenza se vivo in affitto?"}},
		{ID: "certificati", OfficeID: "anagrafe", Name: "Certificati anagrafici e stato di famiglia", Category: anagrafe, Minutes: 10,
			Description: "Rilascio allo sportello dei certificati anagrafici: residenza, stato di famiglia, cittadinanza, esistenza in vita, certificati storici e contestuali. Molti certificati si scaricano anche da soli online dall'Anagrafe nazionale (ANPR).",
			Bring:       []string{"Documento d'identità", "Marca da bollo da 16 euro, salvo i casi di esenzione"},
			Synonyms:    []string{"certificato di residenza", "stato di famiglia", "certificato storico", "certificato di cittadinanza", "ANPR"},
			FAQ:         []string{"Il certificato di residenza si può scaricare online?", "Quando il certificato è esente dal bollo?"}},
		{ID: "autentiche", OfficeID: "anagrafe", Name: "Autenticazione di firme e copie, legalizzazione di foto", Category: anagrafe, Minutes: 10,
			Description: "Autentica della firma su dichiarazioni sostitutive e passaggi di proprietà di veicoli, autentica di copie conformi all'originale e legalizzazione di fotografie per documenti.",
			Bring:       []string{"Documento d'identità valido", "Il documento da firmare, senza firmarlo prima", "L'originale e la copia da autenticare", "Marca da bollo da 16 euro, se dovuta"},
			Synonyms:    []string{"autentica firma", "copia conforme", "passaggio di proprietà"}},
		{ID: "aire", OfficeID: "anagrafe", Name: "Iscrizione all'AIRE (italiani residenti all'estero)", Category: anagrafe, Minutes: 20,
			Description: "Iscrizione all'Anagrafe degli italiani residenti all'estero per chi si trasferisce fuori dall'Italia per più di dodici mesi, e aggiornamento dei dati. La domanda si presenta al consolato; l'ufficio dà informazioni e segue la pratica.",
			Bring:       []string{"Documento d'identità", "Indirizzo completo all'estero"},
			Synonyms:    []string{"AIRE", "trasferimento all'estero", "emigrazione"}},
		{ID: "soggiorno-ue", OfficeID: "anagrafe", Name: "Attestazione di soggiorno per cittadini dell'Unione europea", Category: anagrafe, Minutes: 30,
			Description: "Iscrizione anagrafica dei cittadini di altri Stati dell'Unione europea e rilascio dell'attestazione di soggiorno, anche permanente dopo cinque anni.",
			Bring:       []string{"Passaporto o documento d'identità del Paese di origine", "Contratto di lavoro, oppure prova di risorse economiche e assicurazione sanitaria", "Codice fiscale"},
			Synonyms:    []string{"cittadino comunitario", "cittadini stranieri UE", "soggiorno permanente"}},
		// Stato civile.
		{ID: "matrimonio", OfficeID: "stato-civile", Name: "Pubblicazioni e matrimonio civile", Category: anagrafe, Minutes: 45,
			Description: "Richiesta delle pubblicazioni di matrimonio, che restano affisse all'albo online per otto giorni, e prenotazione della celebrazione del matrimonio civile nella sala comunale.",
			Bring:       []string{"Documenti d'identità dei due sposi", "Dati dei testimoni", "Per chi è nato all'estero: certificato di nascita e nulla osta"},
			Synonyms:    []string{"sposarsi in comune", "pubblicazioni", "matrimonio religioso con effetti civili"},
			FAQ:         []string{"Quanto tempo prima devo chiedere le pubblicazioni di matrimonio?"}},
		{ID: "unioni-civili", OfficeID: "stato-civile", Name: "Unioni civili e convivenze di fatto", Category: anagrafe, Minutes: 30,
			Description: "Costituzione dell'unione civile tra persone dello stesso sesso e registrazione delle convivenze di fatto e dei contratti di convivenza.",
			Bring:       []string{"Documenti d'identità delle due parti", "Per il contratto di convivenza: atto del notaio o dell'avvocato"},
			Synonyms:    []string{"convivenza", "coppia di fatto", "unione civile"}},
		{ID: "nascita", OfficeID: "stato-civile", Name: "Dichiarazione di nascita e riconoscimento di figlio", Category: anagrafe, Minutes: 30,
			Description: "Dichiarazione di nascita entro dieci giorni dal parto, se non fatta in ospedale, e riconoscimento di un figlio nato fuori dal matrimonio, anche prima della nascita.",
			Bring:       []string{"Attestazione di nascita rilasciata dall'ospedale o dall'ostetrica", "Documenti d'identità dei genitori"},
			Synonyms:    []string{"bambino nato", "neonato", "riconoscimento figlio"}},
		{ID: "morte", OfficeID: "stato-civile", Name: "Denuncia di morte e autorizzazioni funebri", Category: anagrafe, Minutes: 30,
			Description: "Denuncia del decesso, autorizzazione alla sepoltura, alla cremazione, all'affidamento e alla dispersione delle ceneri. Di solito se ne occupa l'agenzia funebre per conto dei familiari.",
			Bring:       []string{"Certificato del medico necroscopo", "Documento d'identità del dichiarante", "Per la cremazione: volontà scritta del defunto o dichiarazione dei familiari"},
			Synonyms:    []string{"decesso", "cremazione", "ceneri", "sepoltura"}},
		{ID: "cittadinanza", OfficeID: "stato-civile", Name: "Cittadinanza italiana: riconoscimento e giuramento", Category: anagrafe, Minutes: 45,
			Description: "Giuramento di chi ha ottenuto la cittadinanza italiana per residenza o matrimonio, e riconoscimento della cittadinanza per discendenza (iure sanguinis) per chi risiede nel Comune.",
			Bring:       []string{"Decreto di concessione della cittadinanza", "Passaporto", "Per iure sanguinis: atti di nascita degli ascendenti tradotti e legalizzati"},
			Synonyms:    []string{"giuramento cittadinanza", "diventare cittadino italiano"}},
		{ID: "dat", OfficeID: "stato-civile", Name: "Disposizioni anticipate di trattamento (testamento biologico)", Category: salute, Minutes: 20,
			Description: "Deposito delle DAT, le volontà sui trattamenti sanitari in caso di futura incapacità di decidere, con l'eventuale nomina di un fiduciario. Il deposito è gratuito.",
			Bring:       []string{"Documento d'identità", "Le DAT scritte e firmate, in busta chiusa o aperta", "Dati e firma del fiduciario, se nominato"},
			Synonyms:    []string{"DAT", "biotestamento", "fine vita"}},
		// Ufficio elettorale.
		{ID: "tessera-elettorale", OfficeID: "elettorale", Name: "Tessera elettorale: rilascio e duplicato", Category: anagrafe, Minutes: 10,
			Description: "Rilascio della tessera elettorale ai nuovi elettori e duplicato quando i diciotto spazi per i timbri sono esauriti o la tessera è stata smarrita o deteriorata.",
			Bring:       []string{"Documento d'identità", "La tessera esaurita o deteriorata, oppure la denuncia di smarrimento"},
			Synonyms:    []string{"certificato elettorale", "tessera per votare", "timbri esauriti"}},
		{ID: "albo-scrutatori", OfficeID: "elettorale", Name: "Iscrizione all'albo degli scrutatori e dei presidenti di seggio", Category: anagrafe, Minutes: 10,
			Description: "Domanda di iscrizione all'albo degli scrutatori (entro novembre) e dei presidenti di seggio (entro ottobre) per lavorare ai seggi durante le elezioni.",
			Bring:       []string{"Documento d'identità", "Titolo di studio (per i presidenti di seggio: diploma)"},
			Synonyms:    []string{"scrutatore", "presidente di seggio", "lavorare alle elezioni"}},
		// Tributi.
		{ID: "tari", OfficeID: "tributi", Name: "TARI - Tassa sui rifiuti: iscrizione, variazione, cessazione", Category: tributi, Minutes: 20,
			Description: "Dichiarazione di inizio, variazione o fine occupazione di un immobile ai fini della tassa sui rifiuti, riduzioni e agevolazioni, chiarimenti sugli avvisi di pagamento.",
			Bring:       []string{"Documento d'identità", "Dati catastali e metri quadri dell'immobile", "Contratto di affitto o atto di acquisto", "Avviso di pagamento ricevuto, se si chiedono chiarimenti"},
			Synonyms:    []string{"tassa rifiuti", "tassa spazzatura", "bolletta rifiuti"},
			FAQ:         []string{"Entro quando devo dichiarare il nuovo immobile ai fini TARI?", "Come si calcola la TARI?"}},
		{ID: "imu", OfficeID: "tributi", Name: "IMU - Imposta municipale propria", Category: tributi, Minutes: 20,
			Description: "Informazioni e assistenza per il calcolo e il versamento dell'IMU su seconde case, terreni e aree edificabili, aliquote del Comune, dichiarazioni IMU e comodato ai figli.",
			Bring:       []string{"Visura catastale degli immobili", "Eventuali contratti di comodato o di affitto", "Versamenti degli anni precedenti"},
			Synonyms:    []string{"imposta sugli immobili", "F24 IMU", "aliquote IMU"},
			FAQ:         []string{"Quando si paga l'IMU?", "Sulla prima casa si paga l'IMU?"}},
		{ID: "rimborsi-tributi", OfficeID: "tributi", Name: "Avvisi di accertamento, rimborsi e rateizzazioni dei tributi", Category: tributi, Minutes: 30,
			Description: "Chiarimenti su un avviso di accertamento IMU o TARI, istanza di autotutela, richiesta di rimborso di somme versate in più, rateizzazione dei debiti tributari.",
			Bring:       []string{"L'avviso di accertamento ricevuto", "Ricevute dei pagamenti effettuati", "Documento d'identità"},
			Synonyms:    []string{"accertamento", "autotutela", "rimborso tasse", "pagare a rate"}},
		{ID: "suolo-pubblico", OfficeID: "tributi", Name: "Occupazione di suolo pubblico (canone unico)", Category: autor, Minutes: 20,
			Description: "Concessione per occupare temporaneamente o in modo permanente il suolo pubblico con ponteggi, cantieri, traslochi, tavolini e dehors, banchetti e manifestazioni, e pagamento del canone unico patrimoniale.",
			Bring:       []string{"Planimetria con l'area da occupare e le misure", "Date e orari dell'occupazione", "Marca da bollo da 16 euro"},
			Synonyms:    []string{"canone unico", "dehors", "ponteggio", "occupazione temporanea"}},
		// Polizia locale.
		{ID: "sanzioni", OfficeID: "polizia-locale", Name: "Pagamento delle sanzioni e ricorsi contro i verbali", Category: tributi, Minutes: 15,
			Description: "Informazioni sui verbali del codice della strada, pagamento delle sanzioni anche in misura ridotta entro cinque giorni, comunicazione dei dati del conducente per la decurtazione dei punti, ricorso al Prefetto o al Giudice di pace.",
			Bring:       []string{"Il verbale ricevuto", "Patente del conducente, per la comunicazione dei dati", "Documento d'identità"},
			Synonyms:    []string{"multa", "contravvenzione", "verbale", "punti patente"},
			FAQ:         []string{"Come faccio ricorso contro una multa?", "Entro quanti giorni pago la multa ridotta?"}},
		{ID: "ztl", OfficeID: "polizia-locale", Name: "Permessi di accesso alla ZTL", Category: mobil, Minutes: 15,
			Description: "Rilascio e rinnovo dei permessi per entrare nella zona a traffico limitato del centro storico: residenti, dimoranti, titolari di box, attività commerciali, medici e assistenza a persone fragili.",
			Bring:       []string{"Libretto di circolazione del veicolo", "Documento d'identità", "Documento che dà diritto al permesso (residenza, contratto del box, iscrizione camerale)"},
			Synonyms:    []string{"ZTL", "permesso centro storico", "varchi"}},
		{ID: "contrassegno-disabili", OfficeID: "polizia-locale", Name: "Contrassegno di parcheggio per persone con disabilità (CUDE)", Category: mobil, Minutes: 20,
			Description: "Rilascio e rinnovo del contrassegno unificato disabili europeo, che permette di sostare negli stalli riservati e di accedere alla ZTL, e richiesta di uno stallo personalizzato vicino a casa.",
			Bring:       []string{"Certificato medico dell'ufficio di medicina legale dell'ASL", "Una fototessera", "Documento d'identità", "Il contrassegno scaduto, per il rinnovo"},
			Synonyms:    []string{"CUDE", "pass invalidi", "parcheggio riservato disabili"}},
		{ID: "passo-carrabile", OfficeID: "polizia-locale", Name: "Autorizzazione passo carrabile", Category: autor, Minutes: 20,
			Description: "Autorizzazione per un accesso di veicoli da una proprietà privata alla strada, con rilascio del cartello di passo carrabile numerato; subentro e rinuncia.",
			Bring:       []string{"Planimetria dell'accesso con le misure", "Fotografie del passo", "Titolo di proprietà o assenso del proprietario", "Marca da bollo da 16 euro"},
			Synonyms:    []string{"passo carraio", "cartello divieto di sosta davanti al cancello"}},
		{ID: "oggetti-smarriti", OfficeID: "polizia-locale", Name: "Oggetti smarriti e ritrovati", Category: "Giustizia e sicurezza pubblica", Minutes: 10,
			Description: "Consegna di un oggetto trovato per strada e ritiro di un oggetto smarrito custodito dall'ufficio: portafogli, chiavi, telefoni, documenti.",
			Bring:       []string{"Documento d'identità", "Descrizione dell'oggetto perso"},
			Synonyms:    []string{"ho perso", "ho trovato", "portafoglio smarrito", "chiavi perse"}},
		{ID: "ospitalita", OfficeID: "polizia-locale", Name: "Comunicazione di ospitalità e cessione di fabbricato", Category: "Giustizia e sicurezza pubblica", Minutes: 10,
			Description: "Comunicazione, entro 48 ore, di chi ospita o dà in uso un immobile a un cittadino straniero, e cessione di fabbricato.",
			Bring:       []string{"Documento d'identità di chi ospita", "Passaporto o permesso di soggiorno dell'ospite", "Dati catastali dell'immobile"},
			Synonyms:    []string{"dichiarazione di ospitalità", "ospitare uno straniero"}},
		// Servizi sociali.
		{ID: "contributi", OfficeID: "servizi-sociali", Name: "Contributi economici e bonus per famiglie in difficoltà", Category: salute, Minutes: 30,
			Description: "Domanda di contributi economici comunali per famiglie in difficoltà: sostegno al reddito, contributo per l'affitto e per le bollette, buoni spesa, bonus nascita comunale. Serve un ISEE valido.",
			Bring:       []string{"Attestazione ISEE in corso di validità", "Documento d'identità", "Contratto di affitto e ricevute, per il contributo affitto", "IBAN del conto corrente"},
			Synonyms:    []string{"bonus affitto", "contributo affitto", "buoni spesa", "sussidi"},
			FAQ:         []string{"Quali bonus dà il Comune?", "Serve l'ISEE per il contributo affitto?"}},
		{ID: "assistenza-domiciliare", OfficeID: "servizi-sociali", Name: "Assistenza domiciliare per anziani e persone con disabilità", Category: salute, Minutes: 30,
			Description: "Servizio di aiuto a casa per anziani e persone non autosufficienti: cura della persona e della casa, pasti a domicilio, telesoccorso, accompagnamento alle visite.",
			Bring:       []string{"Documento d'identità della persona assistita", "Certificazioni sanitarie o verbale di invalidità", "Attestazione ISEE"},
			Synonyms:    []string{"SAD", "pasti a domicilio", "telesoccorso", "aiuto a casa"}},
		{ID: "segretariato-sociale", OfficeID: "servizi-sociali", Name: "Colloquio con l'assistente sociale", Category: salute, Minutes: 45,
			Description: "Primo ascolto e orientamento con un assistente sociale per problemi familiari, minori, disabilità, dipendenze, violenza domestica o perdita della casa.",
			Bring:       []string{"Documento d'identità", "Eventuale documentazione utile a descrivere la situazione"},
			Synonyms:    []string{"segretariato sociale", "assistente sociale", "aiuto psicologico", "sfratto", "violenza in famiglia"}},
		// Pubblica istruzione.
		{ID: "mensa", OfficeID: "scuola", Name: "Refezione scolastica (mensa): iscrizione e diete speciali", Category: scuola, Minutes: 15,
			Description: "Iscrizione al servizio di mensa delle scuole dell'infanzia, primarie e secondarie di primo grado, richiesta di diete speciali per motivi di salute o religiosi, tariffe in base all'ISEE e ricarica dei pasti.",
			Bring:       []string{"Codice fiscale dell'alunno e del genitore", "Certificato medico per le diete speciali", "Attestazione ISEE per la tariffa ridotta"},
			Synonyms:    []string{"mensa scolastica", "buoni pasto", "dieta speciale", "ricarica pasti"},
			FAQ:         []string{"Come iscrivo mio figlio alla mensa?", "Quanto costa un pasto?"}},
		{ID: "scuolabus", OfficeID: "scuola", Name: "Trasporto scolastico (scuolabus)", Category: scuola, Minutes: 15,
			Description: "Iscrizione al trasporto scolastico con scuolabus comunale per gli alunni che abitano lontano dalla scuola, percorsi, fermate e tariffe.",
			Bring:       []string{"Codice fiscale dell'alunno e del genitore", "Indirizzo della fermata richiesta", "Attestazione ISEE per le riduzioni"},
			Synonyms:    []string{"pulmino", "trasporto alunni", "fermata scuolabus"}},
		{ID: "asilo-nido", OfficeID: "scuola", Name: "Iscrizione all'asilo nido comunale", Category: scuola, Minutes: 20,
			Description: "Domanda di iscrizione ai nidi d'infanzia comunali per bambini da tre mesi a tre anni, graduatorie, rette in base all'ISEE e bonus nido.",
			Bring:       []string{"Codice fiscale del bambino e dei genitori", "Attestazione ISEE per i minorenni", "Certificato delle vaccinazioni"},
			Synonyms:    []string{"nido", "asilo", "micronido", "retta nido"}},
		{ID: "libri-borse", OfficeID: "scuola", Name: "Cedole librarie, libri di testo e borse di studio", Category: scuola, Minutes: 15,
			Description: "Cedole per i libri di testo gratuiti della scuola primaria, contributo per i libri delle scuole medie e superiori e borse di studio statali e regionali.",
			Bring:       []string{"Attestazione ISEE", "Codice fiscale dello studente", "Ricevute di acquisto dei libri"},
			Synonyms:    []string{"cedola libraria", "buono libri", "contributo libri"}},
		// Edilizia privata.
		{ID: "permesso-costruire", OfficeID: "edilizia", Name: "Permesso di costruire", Category: catasto, Minutes: 45,
			Description: "Ricevimento dei tecnici e dei cittadini per nuove costruzioni, ampliamenti, verande chiuse, sopraelevazioni e ristrutturazioni pesanti che richiedono il permesso di costruire; stato della pratica e oneri di urbanizzazione.",
			Bring:       []string{"Numero della pratica, se già presentata", "Progetto firmato dal tecnico abilitato", "Titolo di proprietà"},
			Synonyms:    []string{"concessione edilizia", "licenza edilizia", "ampliamento", "veranda", "costruire"}},
		{ID: "cila-scia", OfficeID: "edilizia", Name: "CILA e SCIA: lavori di ristrutturazione e manutenzione", Category: catasto, Minutes: 30,
			Description: "Informazioni sulle pratiche edilizie per lavori in casa: manutenzione straordinaria, spostamento di tramezzi, rifacimento di bagni e facciate con CILA o SCIA, anche per i bonus edilizi; agibilità.",
			Bring:       []string{"Numero della pratica, se già presentata", "Planimetria catastale", "Documento d'identità"},
			Synonyms:    []string{"CILA", "SCIA", "ristrutturazione", "lavori in casa", "agibilità"}},
		{ID: "accesso-atti-edilizi", OfficeID: "edilizia", Name: "Accesso agli atti edilizi e conformità urbanistica", Category: catasto, Minutes: 30,
			Description: "Visione e copia delle pratiche edilizie archiviate (licenze, concessioni, condoni) per verificare la conformità di un immobile, per esempio prima di un rogito.",
			Bring:       []string{"Modulo di richiesta di accesso agli atti", "Dati catastali dell'immobile", "Delega del proprietario, se non si è il proprietario"},
			Synonyms:    []string{"accesso atti edilizi", "condono", "conformità urbanistica", "rogito", "progetti archiviati"}},
		{ID: "cdu", OfficeID: "edilizia", Name: "Certificato di destinazione urbanistica", Category: catasto, Minutes: 20,
			Description: "Rilascio del certificato che indica la destinazione di un terreno nel piano urbanistico comunale, necessario per compravendite, successioni e divisioni di terreni.",
			Bring:       []string{"Estratto di mappa catastale con foglio e particelle", "Due marche da bollo da 16 euro", "Ricevuta dei diritti di segreteria"},
			Synonyms:    []string{"CDU", "destinazione urbanistica terreno", "terreno edificabile", "terreno agricolo"}},
		// Ambiente.
		{ID: "ingombranti", OfficeID: "ambiente", Name: "Ritiro dei rifiuti ingombranti a domicilio", Category: ambiente, Minutes: 10,
			Description: "Prenotazione del ritiro gratuito sotto casa di mobili, materassi, elettrodomestici e altri rifiuti ingombranti, e informazioni sul centro di raccolta comunale.",
			Bring:       []string{"Elenco degli oggetti da ritirare", "Indirizzo e recapito telefonico"},
			Synonyms:    []string{"ingombranti", "ritiro mobili", "RAEE", "isola ecologica", "centro di raccolta"}},
		{ID: "compostaggio", OfficeID: "ambiente", Name: "Compostaggio domestico e riduzione TARI", Category: ambiente, Minutes: 10,
			Description: "Iscrizione all'albo dei compostatori, consegna della compostiera e riduzione della tassa sui rifiuti per chi trasforma in compost l'umido nel proprio giardino.",
			Bring:       []string{"Documento d'identità", "Codice utente TARI"},
			Synonyms:    []string{"compostiera", "compost", "albo compostatori"}},
		{ID: "anagrafe-canina", OfficeID: "ambiente", Name: "Anagrafe canina e microchip", Category: ambiente, Minutes: 15,
			Description: "Iscrizione del cane all'anagrafe canina dopo l'applicazione del microchip, passaggi di proprietà, smarrimento, ritrovamento e decesso dell'animale, adozioni dal canile comunale.",
			Bring:       []string{"Documento d'identità del proprietario", "Certificato del veterinario con il numero di microchip"},
			Synonyms:    []string{"microchip cane", "canile", "adottare un cane", "cane smarrito"}},
		{ID: "alberi", OfficeID: "ambiente", Name: "Autorizzazione all'abbattimento di alberi", Category: ambiente, Minutes: 20,
			Description: "Richiesta di autorizzazione per abbattere o potare in modo drastico alberi su aree private, con perizia agronomica quando l'albero è pericoloso.",
			Bring:       []string{"Fotografie dell'albero", "Planimetria con la posizione", "Perizia di un agronomo, se richiesta"},
			Synonyms:    []string{"taglio albero", "potatura", "abbattimento pino"}},
		// URP.
		{ID: "urp-informazioni", OfficeID: "urp", Name: "Informazioni, segnalazioni e reclami", Category: "Cultura e tempo libero", Minutes: 15,
			Description: "Informazioni su uffici, orari e servizi del Comune, orientamento alla modulistica, presentazione di segnalazioni di disservizi (buche, illuminazione, rifiuti abbandonati) e reclami.",
			Bring:       []string{"Documento d'identità, per i reclami scritti"},
			Synonyms:    []string{"URP", "reclamo", "segnalazione", "buca stradale", "lampione guasto", "parlare con un operatore"}},
		{ID: "spid-facilitazione", OfficeID: "urp", Name: "Punto di facilitazione digitale: SPID, CIE e servizi online", Category: "Cultura e tempo libero", Minutes: 30,
			Description: "Aiuto gratuito per attivare SPID, usare la CIE per accedere ai servizi online, scaricare certificati, usare l'app IO, il fascicolo sanitario e la PEC.",
			Bring:       []string{"Documento d'identità valido", "Tessera sanitaria", "Telefono cellulare e indirizzo email personali"},
			Synonyms:    []string{"SPID", "identità digitale", "app IO", "fascicolo sanitario", "aiuto computer"}},
		{ID: "accesso-atti", OfficeID: "urp", Name: "Accesso agli atti e accesso civico", Category: "Cultura e tempo libero", Minutes: 15,
			Description: "Richiesta di vedere o avere copia di documenti amministrativi del Comune (accesso documentale) e di dati non pubblicati (accesso civico generalizzato, FOIA).",
			Bring:       []string{"Modulo di richiesta compilato", "Documento d'identità"},
			Synonyms:    []string{"accesso civico", "FOIA", "copia documenti"}},
	}
	for i := range s {
		s[i].Office = offices[s[i].OfficeID]
	}
	return s
}

// DemoDocs returns the demo catalogue as index documents.
func DemoDocs() []Doc {
	var docs []Doc
	for _, s := range DemoCatalogue() {
		docs = append(docs, Doc{
			ServiceID:   s.ID,
			OfficeID:    s.OfficeID,
			Name:        s.Name,
			OfficeName:  s.Office,
			Description: s.Description,
			Bring:       strings.Join(s.Bring, "; "),
			Synonyms:    s.Synonyms,
			FAQ:         s.FAQ,
		})
	}
	return docs
}
