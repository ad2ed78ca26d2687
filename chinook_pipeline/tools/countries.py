"""What synthetic customers look like, country by country: names (accents and CJK scripts
included), cities with their postal-code and phone formats, streets, e-mail domains and
companies, and how common each country is among customers."""

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Country:
    """How customers of one country look. Names are "Native" or "Native|Romanised"."""

    name: str
    weight: int
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    # (city, state or None, postal pattern, phone pattern); '#' is a digit, 'L' a capital letter.
    cities: tuple[tuple[str, str | None, str, str], ...]
    streets: tuple[str, ...]
    # "{n}" is the house number, "{s}" the street.
    address: str
    domains: tuple[str, ...]
    companies: tuple[str, ...]


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COUNTRIES: Final = (
    Country(
        "USA",
        22,
        _names(
            "James Mary Michael Patricia Robert Jennifer David Linda John Elizabeth Emily Frank Julia Kathy Richard Tim Dan Heather Connor Madison"
        ),
        _names(
            "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Harris Gordon Ralston Mitchell Barnett Sullivan O'Reilly Goyer"
        ),
        (
            ("New York", "NY", "100##", "+1 (212) ###-####"),
            ("Redmond", "WA", "980##", "+1 (425) ###-####"),
            ("Mountain View", "CA", "940##", "+1 (650) ###-####"),
            ("Chicago", "IL", "606##", "+1 (312) ###-####"),
            ("Boston", "MA", "021##", "+1 (617) ###-####"),
            ("Orlando", "FL", "328##", "+1 (407) ###-####"),
            ("Salt Lake City", "UT", "841##", "+1 (801) ###-####"),
            ("Fort Worth", "TX", "761##", "+1 (817) ###-####"),
            ("Madison", "WI", "537##", "+1 (608) ###-####"),
            ("Reno", "NV", "895##", "+1 (775) ###-####"),
        ),
        _names("Main Oak Pine Maple Cedar Elm Washington Lake Hill Park"),
        "{n} {s} Street",
        ("gmail.com", "yahoo.com", "aol.com", "outlook.com", "comcast.net"),
        (
            "Microsoft Corporation",
            "Google Inc.",
            "Apple Inc.",
            "Acme Logistics LLC",
            "Blue Harbor Media",
        ),
    ),
    Country(
        "Canada",
        10,
        _names(
            "François Émilie Aaron Jennifer Robert Édouard Geneviève Martha Ellie Mark Chloé Noël"
        ),
        _names(
            "Tremblay Gagnon Roy Côté Bouchard Mitchell Brooks Silk Sullivan Philips Lévesque Bélanger"
        ),
        (
            ("Montréal", "QC", "H#L #L#", "+1 (514) ###-####"),
            ("Québec", "QC", "G#L #L#", "+1 (418) ###-####"),
            ("Toronto", "ON", "M#L #L#", "+1 (416) ###-####"),
            ("Ottawa", "ON", "K#L #L#", "+1 (613) ###-####"),
            ("Vancouver", "BC", "V#L #L#", "+1 (604) ###-####"),
            ("Edmonton", "AB", "T#L #L#", "+1 (780) ###-####"),
            ("Halifax", "NS", "B#L #L#", "+1 (902) ###-####"),
            ("Winnipeg", "MB", "R#L #L#", "+1 (204) ###-####"),
        ),
        (
            "rue Bélanger",
            "rue Sainte-Catherine",
            "Bay Street",
            "Jasper Ave NW",
            "Robson Street",
            "Portage Ave",
        ),
        "{n} {s}",
        ("gmail.com", "yahoo.ca", "videotron.ca", "shaw.ca", "sympatico.ca"),
        ("Telus", "Rogers Canada", "Érable Conseil Inc.", "Northern Lights Ltd."),
    ),
    Country(
        "Brazil",
        8,
        _names("Luís João Eduardo Alexandre Fernanda Márcia Conceição Sebastião Inês Gonçalo"),
        _names("Gonçalves Martins Rocha Almeida Barbosa Sampaio Araújo Magalhães Simões Conceição"),
        (
            ("São Paulo", "SP", "0####-###", "+55 (11) ####-####"),
            ("Rio de Janeiro", "RJ", "2####-###", "+55 (21) ####-####"),
            ("Brasília", "DF", "7####-###", "+55 (61) ####-####"),
            ("São José dos Campos", "SP", "1####-###", "+55 (12) ####-####"),
            ("Belo Horizonte", "MG", "3####-###", "+55 (31) ####-####"),
        ),
        (
            "Av. Paulista",
            "Rua Dr. Falcão Filho",
            "Praça Pio X",
            "Rua da Assunção",
            "Av. Brigadeiro Faria Lima",
        ),
        "{s}, {n}",
        ("uol.com.br", "gmail.com", "bol.com.br", "terra.com.br"),
        (
            "Embraer - Empresa Brasileira de Aeronáutica S.A.",
            "Woodstock Discos",
            "Banco do Brasil S.A.",
            "Riotur",
        ),
    ),
    Country(
        "Australia",
        5,
        _names("Mark Olivia Jack Charlotte William Amelia Lachlan Isla"),
        _names("Taylor Smith Wilson O'Brien Nguyen Kelly Campbell Walker"),
        (
            ("Sidney", "NSW", "2###", "+61 (02) ####-####"),
            ("Melbourne", "VIC", "3###", "+61 (03) ####-####"),
            ("Brisbane", "QLD", "4###", "+61 (07) ####-####"),
        ),
        _names("George Collins Queen Flinders Elizabeth"),
        "{n} {s} Street",
        ("bigpond.com", "optusnet.com.au", "gmail.com"),
        ("Southern Cross Pty Ltd", "Wattle Analytics"),
    ),
    Country(
        "India",
        5,
        _names("Manoj Puja Aarav Priya Rahul Ananya Vikram Deepa"),
        _names("Pareek Srivastava Sharma Patel Iyer Reddy Gupta Nair"),
        (
            ("Delhi", "DL", "110###", "+91 0124 ### ####"),
            ("Bangalore", "KA", "560###", "+91 080 #### ####"),
            ("Mumbai", "MH", "400###", "+91 022 #### ####"),
        ),
        ("MG Road", "Raj Bhavan Road", "Residency Road", "Linking Road"),
        "{n}, {s}",
        ("gmail.com", "yahoo.in", "rediffmail.com"),
        ("Infosys Ltd.", "Lotus Software Pvt. Ltd."),
    ),
    Country(
        "Germany",
        7,
        _names("Leonie Jürgen Niklas Hannah Jörg Sören Lukas Ursula Maximilian Käthe"),
        _names("Köhler Schröder Müller Weiß Groß Becker Zimmermann Krüger Schneider Fuchs"),
        (
            ("Stuttgart", None, "70###", "+49 0711 #######"),
            ("Berlin", None, "10###", "+49 030 #######"),
            ("Frankfurt", None, "60###", "+49 069 #######"),
            ("München", None, "80###", "+49 089 #######"),
            ("Köln", None, "50###", "+49 0221 #######"),
        ),
        (
            "Theodor-Heuss-Straße",
            "Tauentzienstraße",
            "Berger Straße",
            "Lessingstraße",
            "Schloßallee",
        ),
        "{s} {n}",
        ("surfeu.de", "web.de", "gmx.de", "t-online.de"),
        ("Deutsche Bahn AG", "Bäckerei Groß GmbH", "Siemens AG"),
    ),
    Country(
        "France",
        7,
        _names("Camille Dominique Marc Wyatt Isabelle Hélène Zoé Jérôme Françoise Loïc"),
        _names("Bernard Lefebvre Dubois Girard Mercier Lemaître Dupont Bélanger Chevalier Faure"),
        (
            ("Paris", None, "750##", "+33 01 ## ## ## ##"),
            ("Lyon", None, "6900#", "+33 04 ## ## ## ##"),
            ("Bordeaux", None, "330##", "+33 05 ## ## ## ##"),
            ("Dijon", None, "210##", "+33 03 ## ## ## ##"),
            ("Marseille", None, "130##", "+33 04 ## ## ## ##"),
        ),
        (
            "rue de Rivoli",
            "Place Bélanger",
            "rue Mouffetard",
            "boulevard Saint-Michel",
            "Quai de la Tournelle",
        ),
        "{n} {s}",
        ("orange.fr", "free.fr", "wanadoo.fr", "gmail.com"),
        ("Société Générale", "Crédit Agricole", "Librairie Lefèvre SARL"),
    ),
    Country(
        "United Kingdom",
        6,
        _names("Emma Phil Steve Oliver Amelia Harry Isla George"),
        _names("Smith Hughes Murray Brown Taylor Davies Evans Thompson"),
        (
            ("London", None, "SW# #LL", "+44 020 ####-####"),
            ("Edinburgh ", None, "EH# #LL", "+44 0131 ### ####"),
            ("Manchester", None, "M# #LL", "+44 0161 ### ####"),
        ),
        ("Broad Street", "High Street", "Lothian Road", "Baker Street"),
        "{n} {s}",
        ("yahoo.co.uk", "btinternet.com", "gmail.com"),
        ("Ealing Broadway Ltd.", "Thames Valley Plc"),
    ),
    Country(
        "Norway",
        3,
        _names("Bjørn Sølvi Øystein Ingrid Kjærsti Håkon"),
        _names("Hansen Bråten Sørensen Løvås Ødegård Johansen"),
        (
            ("Oslo", None, "0###", "+47 22 ## ## ##"),
            ("Bergen", None, "5###", "+47 55 ## ## ##"),
            ("Trondheim", None, "7###", "+47 73 ## ## ##"),
        ),
        ("Ullevålsveien", "Karl Johans gate", "Bryggen", "Søndre gate"),
        "{s} {n}",
        ("yahoo.no", "online.no", "gmail.com"),
        ("Equinor ASA", "Fjellstøtte AS"),
    ),
    Country(
        "Denmark",
        3,
        _names("Kara Søren Mette Jørgen Astrid Frederik"),
        _names("Nielsen Jørgensen Sørensen Madsen Kjær Østergaard"),
        (
            ("Copenhagen", None, "1###", "+45 33 ## ## ##"),
            ("Aarhus", None, "8###", "+45 86 ## ## ##"),
        ),
        ("Sønder Boulevard", "Strøget", "Nørrebrogade", "Åboulevard"),
        "{s} {n}",
        ("jubii.dk", "mail.dk", "gmail.com"),
        ("Mærsk A/S", "Grøn Energi ApS"),
    ),
    Country(
        "Sweden",
        3,
        _names("Joakim Åsa Björn Märta Göran Linnéa"),
        _names("Johansson Åberg Söderberg Lindqvist Öberg Nyström"),
        (
            ("Stockholm", None, "1## ##", "+46 08-### ### ##"),
            ("Göteborg", None, "4## ##", "+46 031-### ## ##"),
        ),
        ("Celsiusg.", "Drottninggatan", "Götgatan", "Kungsgatan"),
        "{s} {n}",
        ("yahoo.se", "telia.com", "gmail.com"),
        ("Ångström Konsult AB",),
    ),
    Country(
        "Poland",
        4,
        _names("Stanisław Łucja Małgorzata Paweł Zofia Michał Bożena Wojciech"),
        _names("Wójcik Łukasiewicz Kowalski Gałązka Nowak Wiśniewski Krawczyk Żak"),
        (
            ("Warsaw", None, "0#-###", "+48 22 ### ## ##"),
            ("Kraków", None, "3#-###", "+48 12 ### ## ##"),
            ("Łódź", None, "9#-###", "+48 42 ### ## ##"),
        ),
        ("Ordynacka", "ul. Floriańska", "ul. Piotrkowska", "Nowy Świat"),
        "{s} {n}",
        ("gmail.com", "wp.pl", "onet.pl"),
        ("Łączność Sp. z o.o.",),
    ),
    Country(
        "Spain",
        4,
        _names("Enrique José María Begoña Íñigo Nuria Ramón Lucía"),
        _names("Muñoz Núñez Ibáñez Fernández García Peña Castaño Gómez"),
        (
            ("Madrid", None, "280##", "+34 91 ### ## ##"),
            ("Barcelona", None, "080##", "+34 93 ### ## ##"),
            ("Sevilla", None, "410##", "+34 95 ### ## ##"),
        ),
        (
            "Calle Lopez de Hoyos",
            "Calle de Alcalá",
            "Carrer de Mallorca",
            "Avenida de la Constitución",
        ),
        "{s}, {n}",
        ("yahoo.es", "telefonica.es", "gmail.com"),
        ("Telefónica S.A.", "Viñedos Peñafiel S.L."),
    ),
    Country(
        "Portugal",
        3,
        _names("João Madalena Gonçalo Conceição Inês Sebastião"),
        _names("Fernandes Sampaio Simões Magalhães Gonçalves Araújo"),
        (
            ("Lisbon", None, "1###-###", "+351 (213) ###-###"),
            ("Porto", None, "4###-###", "+351 (225) ###-###"),
        ),
        ("Rua da Assunção", "Rua dos Campeões Europeus", "Avenida da Liberdade"),
        "{s} {n}",
        ("sapo.pt", "gmail.com"),
        ("Cortiças Simões Lda.",),
    ),
    Country(
        "Czech Republic",
        2,
        _names("František Helena Jiří Zuzana Tomáš Dagmar"),
        _names("Wichterlová Holý Dvořák Novák Černý Procházka"),
        (
            ("Prague", None, "1## ##", "+420 2 #### ####"),
            ("Brno", None, "6## ##", "+420 5 #### ####"),
        ),
        ("Klanova", "Rilská", "Václavské náměstí"),
        "{s} {n}/###",
        ("seznam.cz", "gmail.com"),
        ("JetBrains s.r.o.", "Škoda Auto a.s."),
    ),
    Country(
        "Japan",
        4,
        (
            "陽翔|Haruto",
            "結衣|Yui",
            "蓮|Ren",
            "さくら|Sakura",
            "大翔|Hiroto",
            "美咲|Misaki",
            "Kenji",
            "Yuki",
        ),
        (
            "佐藤|Sato",
            "鈴木|Suzuki",
            "高橋|Takahashi",
            "田中|Tanaka",
            "渡辺|Watanabe",
            "伊藤|Ito",
            "Yamamoto",
            "Nakamura",
        ),
        (
            ("Tokyo", None, "1##-####", "+81 03-####-####"),
            ("Osaka", None, "5##-####", "+81 06-####-####"),
            ("Kyoto", None, "6##-####", "+81 075-###-####"),
        ),
        ("Chiyoda", "Shibuya", "Umeda", "Gion"),
        "{n}-#-# {s}",
        ("yahoo.co.jp", "docomo.ne.jp", "gmail.com"),
        ("株式会社サクラ", "Nippon Denki K.K."),
    ),
    Country(
        "China",
        4,
        ("伟|Wei", "芳|Fang", "秀英|Xiuying", "敏|Min", "静|Jing", "强|Qiang", "Lei", "Yan"),
        ("王|Wang", "李|Li", "张|Zhang", "刘|Liu", "陈|Chen", "杨|Yang", "Huang", "Zhao"),
        (
            ("Beijing", None, "100###", "+86 10 #### ####"),
            ("Shanghai", None, "200###", "+86 21 #### ####"),
            ("Shenzhen", None, "518###", "+86 755 #### ####"),
        ),
        ("Chang'an Avenue", "Nanjing Road", "Shennan Road"),
        "{n} {s}",
        ("163.com", "qq.com", "sina.com"),
        ("华为技术有限公司", "Jade River Trading Co."),
    ),
)
