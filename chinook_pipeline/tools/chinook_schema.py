"""The real Chinook schema, statement for statement: the `Employee` and `Customer` tables, their
indexes, and the real employees that customers' `SupportRepId` refers to."""

from typing import Final

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
