//! Static tables the generated tenant draws its labels from.

use std::sync::LazyLock;

/// (display, ascii slug for emails)
pub(crate) const WESTERN_FIRST: &[(&str, &str)] = &[
    ("José", "jose"),
    ("Zoë", "zoe"),
    ("François", "francois"),
    ("Łukasz", "lukasz"),
    ("Søren", "soren"),
    ("Ana", "ana"),
    ("Björn", "bjorn"),
    ("Chloé", "chloe"),
    ("Siobhán", "siobhan"),
    ("Renée", "renee"),
    ("Mohammed", "mohammed"),
    ("Priya", "priya"),
    ("Olu", "olu"),
    ("Emma", "emma"),
    ("Liam", "liam"),
    ("Noah", "noah"),
    ("Olivia", "olivia"),
    ("Mateo", "mateo"),
    ("Sofía", "sofia"),
    ("Ingrid", "ingrid"),
    ("Dmitri", "dmitri"),
    ("Aoife", "aoife"),
    ("Jürgen", "jurgen"),
    ("Élodie", "elodie"),
    ("Nuno", "nuno"),
    ("Hana", "hana"),
    ("Kwame", "kwame"),
    ("Fatima", "fatima"),
    ("Raúl", "raul"),
    ("Marie-Claire", "marie-claire"),
    ("D'Arcy", "darcy"),
    ("Grace", "grace"),
    ("Ethan", "ethan"),
    ("Ava", "ava"),
    ("Lucas", "lucas"),
    ("Mia", "mia"),
    ("Oliver", "oliver"),
    ("Amélie", "amelie"),
    ("Tomás", "tomas"),
    ("Nils", "nils"),
];

/// (display, ascii slug)
pub(crate) const WESTERN_LAST: &[(&str, &str)] = &[
    ("O'Brien", "obrien"),
    ("Müller", "muller"),
    ("García", "garcia"),
    ("Nguyễn", "nguyen"),
    ("D'Angelo", "dangelo"),
    ("Smith", "smith"),
    ("Johnson", "johnson"),
    ("Kowalski", "kowalski"),
    ("Ødegaard", "odegaard"),
    ("Fernández", "fernandez"),
    ("Dubois", "dubois"),
    ("Rossi", "rossi"),
    ("Novák", "novak"),
    ("Papadopoulos", "papadopoulos"),
    ("Okafor", "okafor"),
    ("Patel", "patel"),
    ("Svensson", "svensson"),
    ("Ó Súilleabháin", "osuilleabhain"),
    ("van der Berg", "vanderberg"),
    ("Hernández", "hernandez"),
    ("Williams", "williams"),
    ("Brown", "brown"),
    ("Jones", "jones"),
    ("Taylor", "taylor"),
    ("Wilson", "wilson"),
    ("Lefèvre", "lefevre"),
    ("Schröder", "schroder"),
    ("Çelik", "celik"),
    ("Yılmaz", "yilmaz"),
    ("MacDonald", "macdonald"),
    ("O'Neill", "oneill"),
    ("Lindqvist", "lindqvist"),
    ("Costa", "costa"),
    ("Silva", "silva"),
    ("Cohen", "cohen"),
    ("Haddad", "haddad"),
    ("Singh", "singh"),
    ("Murphy", "murphy"),
    ("St. John", "stjohn"),
];

/// (display, romanised slug)
pub(crate) const CJK_FIRST: &[(&str, &str)] = &[
    ("伟", "wei"),
    ("芳", "fang"),
    ("秀英", "xiuying"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("洋", "yang"),
    ("艳", "yan"),
    ("翔太", "shota"),
    ("陽菜", "hina"),
    ("蓮", "ren"),
    ("結衣", "yui"),
    ("大輝", "daiki"),
    ("민준", "minjun"),
    ("서연", "seoyeon"),
    ("지훈", "jihoon"),
];

/// (display, romanised slug)
pub(crate) const CJK_LAST: &[(&str, &str)] = &[
    ("王", "wang"),
    ("李", "li"),
    ("张", "zhang"),
    ("刘", "liu"),
    ("陈", "chen"),
    ("杨", "yang"),
    ("黄", "huang"),
    ("佐藤", "sato"),
    ("鈴木", "suzuki"),
    ("高橋", "takahashi"),
    ("田中", "tanaka"),
    ("渡辺", "watanabe"),
    ("김", "kim"),
    ("이", "lee"),
    ("박", "park"),
];

/// (jobTitle, jobProfile descriptor). The last `MANAGER_JOBS` entries are
/// for org managers, the very last for the top org's manager.
pub(crate) const JOBS: &[(&str, &str)] = &[
    ("Software Engineer", "Software Engineer II"),
    ("Senior Software Engineer", "Software Engineer III"),
    ("Staff Engineer", "Software Engineer IV"),
    ("Account Executive", "Sales Representative II"),
    ("Sales Development Representative", "Sales Representative I"),
    ("Marketing Specialist", "Marketing Specialist"),
    ("Financial Analyst", "Financial Analyst II"),
    ("HR Business Partner", "HR Business Partner"),
    ("Recruiter", "Talent Acquisition Partner"),
    ("Customer Success Manager", "Customer Success Manager"),
    ("Support Engineer", "Technical Support Engineer"),
    ("Product Manager", "Product Manager II"),
    ("Data Scientist", "Data Scientist II"),
    ("IT Administrator", "Systems Administrator"),
    ("Legal Counsel", "Attorney"),
    ("Office Coordinator", "Facilities Coordinator"),
    ("UX Designer", "UX Designer II"),
    ("Consultant", "Consultant (Contingent)"),
    ("Manager", "Manager I"),
    ("Senior Manager", "Manager II"),
    ("Director", "Director"),
    ("Chief Executive Officer", "Executive"),
];

/// How many trailing `JOBS` entries are manager jobs (including the CEO).
pub(crate) const MANAGER_JOBS: usize = 4;

/// A work location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) name: &'static str,
    pub(crate) code: &'static str,
    /// The code's first two letters.
    pub(crate) country: &'static str,
    pub(crate) region: &'static str,
    /// The phone prefix numbers are drawn under.
    pub(crate) dial: &'static str,
    /// An index into [`COMPANIES`].
    pub(crate) company: usize,
}

/// The locations, one a line: name | code | region | dial prefix | company
/// index. Kept as text so that it reads as the table it is.
const LOCATION_ROWS: &str = "\
San Francisco HQ | US-SFO | California      | +1 415 | 0
New York         | US-NYC | New York        | +1 212 | 0
Austin           | US-AUS | Texas           | +1 512 | 0
London           | GB-LON | England         | +44 20 | 1
Dublin           | IE-DUB | Leinster        | +353 1 | 1
München          | DE-MUC | Bayern          | +49 89 | 2
Zürich           | CH-ZRH | Zürich          | +41 44 | 2
Paris            | FR-PAR | Île-de-France   | +33 1  | 3
Tōkyō            | JP-TYO | Tōkyō-to        | +81 3  | 4
서울             | KR-SEL | Seoul           | +82 2  | 4
São Paulo        | BR-SAO | São Paulo       | +55 11 | 0
Bengaluru        | IN-BLR | Karnataka       | +91 80 | 0
Kraków           | PL-KRK | Małopolskie     | +48 12 | 2
Sydney           | AU-SYD | New South Wales | +61 2  | 4";

/// [`LOCATION_ROWS`], parsed once.
pub(crate) static LOCATIONS: LazyLock<Vec<Location>> =
    LazyLock::new(|| LOCATION_ROWS.lines().map(location).collect());

fn location(row: &'static str) -> Location {
    let mut cols = row.split('|').map(str::trim);
    let mut next = || cols.next().unwrap_or_default();
    let (name, code, region, dial, company) = (next(), next(), next(), next(), next());
    Location {
        name,
        code,
        country: code.get(..2).unwrap_or_default(),
        region,
        dial,
        company: company.parse().unwrap_or_default(),
    }
}

/// (companyCode, legalEntity)
pub(crate) const COMPANIES: &[(&str, &str)] = &[
    ("ACME-US", "Acme Corporation Inc."),
    ("ACME-UK", "Acme UK Ltd"),
    ("ACME-DE", "Acme Deutschland GmbH"),
    ("ACME-FR", "Acme France SAS"),
    ("ACME-JP", "アクメ株式会社"),
];

/// (department, cost centre code)
pub(crate) const DEPTS: &[(&str, &str)] = &[
    ("Engineering", "CC1000"),
    ("Sales", "CC2000"),
    ("Marketing", "CC2100"),
    ("Finance", "CC3000"),
    ("Human Resources", "CC3100"),
    ("Legal", "CC3200"),
    ("Operations", "CC4000"),
    ("Customer Success", "CC2200"),
    ("Product", "CC1100"),
    ("Research & Development", "CC1200"),
    ("IT", "CC4100"),
    ("Facilities", "CC4200"),
    ("Support", "CC2300"),
];

/// Org name qualifiers.
pub(crate) const QUALIFIERS: &[&str] = &[
    "Platform",
    "EMEA",
    "Americas",
    "APAC",
    "Core",
    "Growth",
    "Infrastructure",
    "Île-de-France",
    "Nordics",
    "DACH",
    "東京",
    "Payments",
    "Data",
    "Mobile",
    "Security",
    "Enterprise",
    "Mid-Market",
    "Québec",
];

/// `lastUpdatedBy` values.
pub(crate) const UPDATERS: &[&str] = &[
    "ISU_HR_Integration",
    "Workday System",
    "hr.admin",
    "Business Process: Change Job",
    "Business Process: Hire",
];

/// Badge colours for the unknown `customFields` extra.
pub(crate) const BADGES: &[&str] = &["blue", "green", "red", "yellow"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_location_row_parses() {
        assert_eq!(LOCATIONS.len(), 14);
        assert_eq!(
            LOCATIONS[0],
            Location {
                name: "San Francisco HQ",
                code: "US-SFO",
                country: "US",
                region: "California",
                dial: "+1 415",
                company: 0,
            }
        );
        for l in LOCATIONS.iter() {
            assert!(l.company < COMPANIES.len(), "{l:?}");
            assert_eq!(l.code.len(), 6, "{l:?}");
            assert!(l.dial.starts_with('+'), "{l:?}");
            assert!(!l.region.is_empty(), "{l:?}");
        }
        assert_eq!(LOCATIONS[13].company, 4);
    }
}
