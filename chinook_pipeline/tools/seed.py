"""Create or extend a database with the real Chinook `Customer` schema and synthetic customers.

The schema is the real Chinook one, statement for statement, so the pipeline runs unchanged
against the real sample database. The customers are synthetic but shaped like the real ones:
names from many countries (accents and CJK scripts included), e-mail addresses derived from the
ASCII-folded name, postal codes and phone numbers in each country's format, and the real
proportion of NULL Company, State and Fax values.
"""

import random
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from shared.errors import PipelineError

EMPLOYEE_DDL: Final = """CREATE TABLE [Employee]
(
    [EmployeeId] INTEGER  NOT NULL,
    [LastName] NVARCHAR(20)  NOT NULL,
    [FirstName] NVARCHAR(20)  NOT NULL,
    [Title] NVARCHAR(30),
    [ReportsTo] INTEGER,
    [BirthDate] DATETIME,
    [HireDate] DATETIME,
    [Address] NVARCHAR(70),
    [City] NVARCHAR(40),
    [State] NVARCHAR(40),
    [Country] NVARCHAR(40),
    [PostalCode] NVARCHAR(10),
    [Phone] NVARCHAR(24),
    [Fax] NVARCHAR(24),
    [Email] NVARCHAR(60),
    CONSTRAINT [PK_Employee] PRIMARY KEY  ([EmployeeId]),
    FOREIGN KEY ([ReportsTo]) REFERENCES [Employee] ([EmployeeId]) \n\t\tON DELETE NO ACTION ON UPDATE NO ACTION
)"""

CUSTOMER_DDL: Final = """CREATE TABLE [Customer]
(
    [CustomerId] INTEGER  NOT NULL,
    [FirstName] NVARCHAR(40)  NOT NULL,
    [LastName] NVARCHAR(20)  NOT NULL,
    [Company] NVARCHAR(80),
    [Address] NVARCHAR(70),
    [City] NVARCHAR(40),
    [State] NVARCHAR(40),
    [Country] NVARCHAR(40),
    [PostalCode] NVARCHAR(10),
    [Phone] NVARCHAR(24),
    [Fax] NVARCHAR(24),
    [Email] NVARCHAR(60)  NOT NULL,
    [SupportRepId] INTEGER,
    CONSTRAINT [PK_Customer] PRIMARY KEY  ([CustomerId]),
    FOREIGN KEY ([SupportRepId]) REFERENCES [Employee] ([EmployeeId]) \n\t\tON DELETE NO ACTION ON UPDATE NO ACTION
)"""

INDEX_DDL: Final = {
    "IFK_EmployeeReportsTo": "CREATE INDEX [IFK_EmployeeReportsTo] ON [Employee] ([ReportsTo])",
    "IFK_CustomerSupportRepId": "CREATE INDEX [IFK_CustomerSupportRepId] ON [Customer] ([SupportRepId])",
}

# The real Chinook rows: the three sales support agents, and the two managers they report to
# (so that Employee.ReportsTo references resolve).
EMPLOYEES: Final = (
    (
        1,
        "Adams",
        "Andrew",
        "General Manager",
        None,
        "1962-02-18 00:00:00",
        "2002-08-14 00:00:00",
        "11120 Jasper Ave NW",
        "Edmonton",
        "AB",
        "Canada",
        "T5K 2N1",
        "+1 (780) 428-9482",
        "+1 (780) 428-3457",
        "andrew@chinookcorp.com",
    ),
    (
        2,
        "Edwards",
        "Nancy",
        "Sales Manager",
        1,
        "1958-12-08 00:00:00",
        "2002-05-01 00:00:00",
        "825 8 Ave SW",
        "Calgary",
        "AB",
        "Canada",
        "T2P 2T3",
        "+1 (403) 262-3443",
        "+1 (403) 262-3322",
        "nancy@chinookcorp.com",
    ),
    (
        3,
        "Peacock",
        "Jane",
        "Sales Support Agent",
        2,
        "1973-08-29 00:00:00",
        "2002-04-01 00:00:00",
        "1111 6 Ave SW",
        "Calgary",
        "AB",
        "Canada",
        "T2P 5M5",
        "+1 (403) 262-3443",
        "+1 (403) 262-6712",
        "jane@chinookcorp.com",
    ),
    (
        4,
        "Park",
        "Margaret",
        "Sales Support Agent",
        2,
        "1947-09-19 00:00:00",
        "2003-05-03 00:00:00",
        "683 10 Street SW",
        "Calgary",
        "AB",
        "Canada",
        "T2P 5G3",
        "+1 (403) 263-4423",
        "+1 (403) 263-4289",
        "margaret@chinookcorp.com",
    ),
    (
        5,
        "Johnson",
        "Steve",
        "Sales Support Agent",
        2,
        "1965-03-03 00:00:00",
        "2003-10-17 00:00:00",
        "7727B 41 Ave",
        "Calgary",
        "AB",
        "Canada",
        "T3B 1Y7",
        "1 (780) 836-9987",
        "1 (780) 836-9543",
        "steve@chinookcorp.com",
    ),
)
SUPPORT_REPS: Final = (3, 4, 5)

INSERT_CUSTOMER: Final = "INSERT INTO Customer VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
DEFAULT_SEED: Final = 42  # the `seed` command's default too


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

_COUNTRY_WEIGHTS: Final = [country.weight for country in COUNTRIES]
_FOLD: Final = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "AE", "đ": "d", "'": ""}
)


def ascii_fold(text: str) -> str:
    """`text` without accents: "Bjørn Łukasiewicz" -> "Bjorn Lukasiewicz"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return decomposed.encode("ascii", "ignore").decode("ascii")


def _pattern(rng: random.Random, pattern: str) -> str:
    return "".join(
        str(rng.randrange(10))
        if char == "#"
        else chr(65 + rng.randrange(26))
        if char == "L"
        else char
        for char in pattern
    )


def _name(rng: random.Random, choices: tuple[str, ...]) -> tuple[str, str]:
    """(as stored, as used in the e-mail): CJK names are stored in native script half the time."""
    native, _, romanised = rng.choice(choices).partition("|")
    if romanised:
        return (native, romanised) if rng.random() < 0.5 else (romanised, romanised)
    return native, ascii_fold(native)


def _email(rng: random.Random, first: str, last: str, domain: str) -> str:
    first, last = first.lower().replace(" ", ""), last.lower().replace(" ", "")
    local = rng.choice(
        (
            f"{first}.{last}",
            f"{first}{last[:1]}",
            f"{first[:1]}{last}",
            f"{first}_{last}",
            f"{first}",
        )
    )
    if rng.random() < 0.3:
        local += str(rng.randrange(1, 100))
    return f"{local[:40]}@{domain}"


def synthetic_customer(rng: random.Random, customer_id: int) -> tuple[object, ...]:
    """One realistic `Customer` row (columns in table order), drawn from `rng` alone."""
    country = rng.choices(COUNTRIES, _COUNTRY_WEIGHTS)[0]
    first, first_ascii = _name(rng, country.first_names)
    last, last_ascii = _name(rng, country.last_names)
    city, state, postal, phone_pattern = rng.choice(country.cities)
    company = rng.choice(country.companies) if rng.random() < 0.2 else None
    fax = _pattern(rng, phone_pattern) if rng.random() < (0.7 if company else 0.05) else None
    address = _pattern(rng, country.address).format(
        n=rng.randrange(1, 2000), s=rng.choice(country.streets)
    )
    return (
        customer_id,
        first,
        last[:20],
        company,
        address[:70],
        city,
        state,
        country.name,
        _pattern(rng, postal),
        _pattern(rng, phone_pattern),
        fax,
        _email(rng, first_ascii, last_ascii, rng.choice(country.domains)),
        rng.choice(SUPPORT_REPS),
    )


def connect(db_path: Path) -> sqlite3.Connection:
    """A connection to an SQLite file in an existing directory, or PipelineError."""
    if not db_path.parent.is_dir():
        raise PipelineError(
            f"directory {db_path.parent} does not exist: create it or choose another --db"
        )
    if db_path.is_dir():
        raise PipelineError(f"{db_path} is a directory: give the path of an SQLite database file")
    connection = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as error:
        connection.close()
        raise PipelineError(
            f"{db_path} is not an SQLite database ({error}): choose another --db"
        ) from None
    return connection


def _create_schema(connection: sqlite3.Connection) -> None:
    """The real tables and indexes, where missing, and the support reps customers refer to."""
    existing = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
    wanted = {"Employee": EMPLOYEE_DDL, "Customer": CUSTOMER_DDL, **INDEX_DDL}
    for name, ddl in wanted.items():
        if name not in existing:
            connection.execute(ddl)
    connection.executemany(
        "INSERT OR IGNORE INTO Employee VALUES (" + ", ".join("?" * 15) + ")", EMPLOYEES
    )


def seed_database(db_path: Path, customers: int, seed: int = DEFAULT_SEED) -> int:
    """Add `customers` synthetic customers after the highest existing id; returns the number added.

    Everything happens in one transaction: a reader sees all new customers or none. The rows
    depend only on `seed` and the highest existing id, so a rerun on the same starting database
    adds the same customers.
    """
    connection = connect(db_path)
    try:
        connection.execute("BEGIN IMMEDIATE")
        _create_schema(connection)
        (start,) = connection.execute(
            "SELECT coalesce(max(CustomerId), 0) FROM Customer"
        ).fetchone()
        rng = random.Random(f"chinook-seed/{seed}/{start}")
        connection.executemany(
            INSERT_CUSTOMER, (synthetic_customer(rng, start + i) for i in range(1, customers + 1))
        )
        connection.execute("COMMIT")
    except sqlite3.Error as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise PipelineError(f"cannot seed {db_path}: {error}") from None
    finally:
        connection.close()
    return customers
