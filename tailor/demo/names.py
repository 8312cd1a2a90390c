"""First names, last names and nicknames of the demo people, per country.

Each list is in rough order of popularity: the generator draws the i-th name with a Zipf-like weight
``1 / (i + 1) ** NAME_ZIPF`` (real name frequencies have such a long tail), so a few names are common and most
are rare. Spanish people carry two last names ("García López"), drawn from the same list.

``NICKNAMES[country]`` maps a formal first name of that country's list to the short forms people give a shop
instead ("William" -> "Bill", "Elisabeth" -> "Lisa", "Johannes" -> "Hans", "Aleksander" -> "Olek"); a duplicate
record may carry one. A matcher needs a table like this one to see them as the same name.
"""

from __future__ import annotations

NAME_ZIPF = 0.6  # exponent of the rank weights of first and last names


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.replace("\n", " ").split(",") if x.strip()]


FIRST_NAMES: dict[str, list[str]] = {c: _split(t) for c, t in {
    "DE": """Michael, Thomas, Anna, Andreas, Julia, Stefan, Sabine, Christian, Katharina, Alexander, Markus, Maria,
        Daniel, Sandra, Lukas, Laura, Claudia, Tobias, Lena, Jonas, Leon, Sophie, Marie, Hannah, Felix, Maximilian,
        Elisabeth, Johannes, Nicole, Petra, Martin, Frank, Jürgen, Andrea, Stephanie, Sebastian, Florian, Matthias,
        Susanne, Birgit, Monika, Ursula, Wolfgang, Klaus, Peter, Uwe, Dieter, Heike, Karin, Manuela, Simone,
        Christina, Nina, Lisa, Sarah, Mia, Emma, Paul, Ben, Finn, Niklas, Jan, Tim, David, Philipp, Jens, Torsten,
        Kerstin, Anja, Melanie, Katrin, Silke, Ute, Gabriele, Renate, Helga, Ingrid, Gerhard, Helmut, Heinrich,
        Friedrich, Karl, Josef, Franz, Hans, Günter, Horst, Bernd, Ralf, Dirk, Sven, Moritz, Emilia, Greta,
        Johanna, Franziska, Theresa, Magdalena, Cornelia, Veronika""",
    "GB": """Oliver, George, Amelia, Harry, Olivia, Jack, Isla, Thomas, Emily, William, James, Sophie, Charlotte,
        Henry, Jessica, Daniel, Grace, Samuel, Lucy, Joseph, Hannah, Edward, Elizabeth, Benjamin, Chloe, Alexander,
        Ruby, Oscar, Evie, Arthur, Poppy, Leo, Ella, Jacob, Mia, Noah, Alice, Charlie, Florence, Alfie, Isabella,
        Freddie, Ava, Archie, Lily, Ethan, Katherine, Isaac, Margaret, Joshua, Rebecca, Max, Victoria, Theo, Emma,
        Robert, Sarah, David, Laura, Michael, Rachel, Richard, Claire, Andrew, Helen, Christopher, Susan, Matthew,
        Deborah, Anthony, Jennifer, Stephen, Patricia, Nicholas, Megan, Peter, Bethany, Paul, Abigail, Mark,
        Eleanor, Ian, Harriet, Gareth, Rhys, Owen, Callum, Mohammed""",
    "FR": """Jean, Marie, Pierre, Michel, Philippe, Nathalie, Nicolas, Isabelle, Alain, Catherine, Christophe, Sylvie,
        Patrick, Françoise, Sébastien, Camille, Frédéric, Léa, Stéphane, Manon, Julien, Chloé, Laurent, Inès, Hugo,
        Jade, Louis, Louise, Lucas, Alice, Gabriel, Juliette, Arthur, Clara, Jules, Sarah, Raphaël, Lina, Adam,
        Zoé, Nathan, Margaux, Théo, Anaïs, Mathis, Élodie, Maxime, Caroline, Antoine, Valérie, Thomas, Stéphanie,
        Alexandre, Sandrine, Guillaume, Florence, Emmanuel, Élisabeth, Benjamin, Joséphine, Victor, Hélène, Paul,
        Céline, Quentin, Aurélie, Romain, Mathilde, Vincent, Pauline, Thibault, Lucie, Dominique, Océane, Bernard,
        Delphine, Christine, Monique, Brigitte, Émilie""",
    "US": """James, Mary, Robert, Patricia, John, Jennifer, Michael, Linda, William, Elizabeth, David, Barbara,
        Richard, Susan, Joseph, Jessica, Thomas, Sarah, Charles, Karen, Christopher, Lisa, Daniel, Nancy, Matthew,
        Betty, Anthony, Sandra, Mark, Ashley, Donald, Kimberly, Steven, Emily, Andrew, Donna, Joshua, Michelle,
        Kenneth, Amanda, Kevin, Melissa, Brian, Stephanie, Timothy, Rebecca, Ryan, Laura, Jason, Emma, Jacob,
        Olivia, Gary, Ava, Nicholas, Sophia, Eric, Isabella, Jonathan, Mia, Justin, Harper, Brandon, Madison, Tyler,
        Abigail, Noah, Avery, Liam, Evelyn, Ethan, Charlotte, Mason, Amelia, Logan, Riley, Aiden, Hailey, Carter,
        Megan, Alexander, Samantha, Benjamin, Katherine, Samuel, Christina, Henry, Victoria, Owen, Brittany""",
    "NL": """Jan, Maria, Johannes, Anna, Cornelis, Johanna, Pieter, Elisabeth, Willem, Cornelia, Hendrik, Wilhelmina,
        Daan, Emma, Sem, Julia, Lucas, Sophie, Levi, Tess, Finn, Fleur, Bram, Sanne, Ruben, Lotte, Thijs, Femke,
        Lars, Anouk, Sven, Lieke, Jesse, Noor, Tim, Eva, Milan, Roos, Joost, Lisa, Sebastiaan, Iris, Alexander,
        Ilse, Daniël, Mieke, Sander, Ingrid, Dennis, Marloes, Kevin, Esther, Mark, Petra, Gerrit, Jacobus, Niels,
        Abraham""",
    "AT": """Lukas, Anna, Tobias, Katharina, David, Lisa, Florian, Julia, Simon, Sarah, Elias, Johanna, Jakob,
        Magdalena, Maximilian, Theresa, Fabian, Verena, Matthias, Valentina, Stefan, Hannah, Michael, Laura,
        Andreas, Lena, Christoph, Sophie, Thomas, Elisabeth, Markus, Maria, Martin, Christina, Josef, Barbara,
        Johann, Sabine, Franz, Andrea, Birgit, Claudia, Martina, Monika, Karin, Manuela, Petra, Elena, Leonie,
        Marlene""",
    "CH": """Noah, Mia, Liam, Emma, Luca, Lea, Leon, Lara, Elias, Laura, Nico, Sara, Jan, Nina, Levin, Alina, Samuel,
        Elena, Matteo, Chiara, Jonas, Anna, Reto, Sophie, Urs, Julia, Beat, Andrea, Daniel, Barbara, Thomas,
        Ursula, Peter, Verena, Hans, Ruth, Martin, Monika, Christian, Claudia, Marco, Sandra, Stefan, Nicole,
        Andreas, Corinne, Lukas, Regula, Simon, Franziska""",
    "ES": """Antonio, María, José, Carmen, Manuel, Ana, Francisco, Isabel, David, Laura, Juan, Cristina, Javier,
        Marta, Daniel, Lucía, Carlos, Elena, Jesús, Pilar, Alejandro, Dolores, Miguel, Paula, Rafael, Sara, Pablo,
        Raquel, Sergio, Rocío, Fernando, Beatriz, Jorge, Sofía, Luis, Martina, Alberto, Irene, Álvaro, Claudia,
        Adrián, Julia, Diego, Patricia, Raúl, Silvia, Enrique, Mercedes, Ignacio, Rosario, Hugo, Concepción, Mateo,
        Teresa, Marcos, Montserrat, Guillermo, Valeria, Ramón, Daniela""",
    "IT": """Giuseppe, Maria, Giovanni, Anna, Antonio, Giuseppina, Mario, Rosa, Luigi, Angela, Francesco, Giovanna,
        Angelo, Teresa, Vincenzo, Lucia, Pietro, Carmela, Salvatore, Caterina, Carlo, Francesca, Franco, Giulia,
        Domenico, Sofia, Bruno, Chiara, Paolo, Martina, Michele, Aurora, Giorgio, Alice, Aldo, Giorgia, Sergio,
        Beatrice, Luca, Ginevra, Marco, Emma, Andrea, Elena, Alessandro, Sara, Lorenzo, Valentina, Matteo,
        Federica, Leonardo, Alessandra, Riccardo, Elisabetta, Tommaso, Roberta, Edoardo, Silvia, Gabriele,
        Paola""",
    "PL": """Piotr, Anna, Krzysztof, Maria, Andrzej, Katarzyna, Tomasz, Małgorzata, Paweł, Agnieszka, Michał,
        Barbara, Marcin, Ewa, Jan, Krystyna, Stanisław, Elżbieta, Jakub, Magdalena, Józef, Joanna, Marek,
        Aleksandra, Łukasz, Monika, Grzegorz, Zofia, Mateusz, Julia, Wojciech, Zuzanna, Mariusz, Hanna, Dariusz,
        Maja, Zbigniew, Oliwia, Adam, Natalia, Kamil, Wiktoria, Szymon, Alicja, Antoni, Karolina, Kacper, Dorota,
        Filip, Beata, Bartłomiej, Justyna, Aleksander, Marta, Jerzy, Danuta, Franciszek, Jadwiga, Maciej,
        Halina""",
}.items()}

LAST_NAMES: dict[str, list[str]] = {c: _split(t) for c, t in {
    "DE": """Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz, Hoffmann, Schäfer, Koch,
        Bauer, Richter, Klein, Wolf, Schröder, Neumann, Schwarz, Zimmermann, Braun, Krüger, Hofmann, Hartmann,
        Lange, Schmitt, Werner, Schmitz, Krause, Meier, Lehmann, Schmid, Schulze, Maier, Köhler, Herrmann, König,
        Walter, Mayer, Huber, Kaiser, Fuchs, Peters, Lang, Scholz, Möller, Weiß, Jung, Hahn, Schubert, Vogel,
        Friedrich, Keller, Günther, Frank, Berger, Winkler, Roth, Beck, Lorenz, Baumann, Franke, Albrecht,
        Schuster, Simon, Ludwig, Böhm, Winter, Kraus, Martin, Schumacher, Krämer, Vogt, Stein, Jäger, Otto,
        Sommer, Groß, Seidel, Heinrich, Brandt, Haas, Schreiber, Graf, Schulte, Dietrich, Ziegler, Kuhn, Kühn,
        Pohl, Engel, Horn, Busch, Bergmann, Thomas, Voigt, Sauer, Arnold, Wolff, Pfeiffer, Ernst, Kraft, Sander,
        Hübner, Kramer, Lindner, Böttcher, Frey, Ott, Rieger, Kröger, Schmidt-Weber, Müller-Lüdenscheidt""",
    "GB": """Smith, Jones, Williams, Taylor, Brown, Davies, Evans, Wilson, Thomas, Johnson, Roberts, Robinson,
        Thompson, Wright, Walker, White, Edwards, Hughes, Green, Hall, Lewis, Harris, Clarke, Patel, Jackson, Wood,
        Turner, Martin, Cooper, Hill, Ward, Morris, Moore, Clark, Lee, King, Baker, Harrison, Morgan, Allen, James,
        Scott, Phillips, Watson, Davis, Parker, Price, Bennett, Young, Griffiths, Mitchell, Kelly, Cook, Carter,
        Richardson, Bailey, Collins, Bell, Shaw, Murphy, Miller, Cox, Richards, Khan, Marshall, Anderson, Simpson,
        Ellis, Adams, Singh, Begum, Wilkinson, Foster, Chapman, Powell, Webb, Rogers, Gray, Mason, Ali, Hunt,
        Hussain, Campbell, Matthews, Owen, Palmer, Holmes, Mills, Barnes, Knight, Lloyd, Butler, Russell, Barker,
        Fisher, Stevens, Jenkins, Murray, Dixon, Harvey, Graham, Pearson, Ahmed, Fletcher, Walsh, Kaur, Gibson,
        Howard, Andrews, Stewart, Elliott, Reynolds, Saunders, Payne, Fox, Ford, Pearce, O'Brien, O'Connor,
        McDonald, MacLeod""",
    "FR": """Martin, Bernard, Thomas, Petit, Robert, Richard, Durand, Dubois, Moreau, Laurent, Simon, Michel,
        Lefebvre, Leroy, Roux, David, Bertrand, Morel, Fournier, Girard, Bonnet, Dupont, Lambert, Fontaine,
        Rousseau, Vincent, Muller, Lefèvre, Faure, André, Mercier, Blanc, Guérin, Boyer, Garnier, Chevalier,
        François, Legrand, Gauthier, Garcia, Perrin, Robin, Clément, Morin, Nicolas, Henry, Roussel, Mathieu,
        Gautier, Masson, Marchand, Duval, Denis, Dumont, Marie, Lemaire, Noël, Meyer, Dufour, Meunier, Brun,
        Blanchard, Giraud, Joly, Rivière, Lucas, Brunet, Gaillard, Barbier, Arnaud, Martinez, Gérard, Roche,
        Renard, Schmitt, Roy, Leroux, Colin, Vidal, Caron, Picard, Roger, Fabre, Aubert, Lemoine, Renaud, Dumas,
        Lacroix, Olivier, Philippe, Bourgeois, Pierre, Benoît, Rey, Leclerc, Payet, Rolland, Guillaume, Lecomte,
        Dupuy, Hubert, Carpentier, Moulin, Deschamps, Fleury, Le Gall, Le Goff, Da Silva, Prévost, Lévêque""",
    "US": """Smith, Johnson, Williams, Brown, Jones, Garcia, Miller, Davis, Rodriguez, Martinez, Hernandez, Lopez,
        Gonzalez, Wilson, Anderson, Thomas, Taylor, Moore, Jackson, Martin, Lee, Perez, Thompson, White, Harris,
        Sanchez, Clark, Ramirez, Lewis, Robinson, Walker, Young, Allen, King, Wright, Scott, Torres, Nguyen, Hill,
        Flores, Green, Adams, Nelson, Baker, Hall, Rivera, Campbell, Mitchell, Carter, Roberts, Gomez, Phillips,
        Evans, Turner, Diaz, Parker, Cruz, Edwards, Collins, Reyes, Stewart, Morris, Morales, Murphy, Cook, Rogers,
        Gutierrez, Ortiz, Morgan, Cooper, Peterson, Bailey, Reed, Kelly, Howard, Ramos, Kim, Cox, Ward, Richardson,
        Watson, Brooks, Chavez, Wood, James, Bennett, Gray, Mendoza, Ruiz, Hughes, Price, Alvarez, Castillo,
        Sanders, Patel, Myers, Long, Ross, Foster, Jimenez, Powell, Jenkins, Perry, Russell, Sullivan, Bell,
        Coleman, Butler, Henderson, Barnes, Fisher, Simmons, O'Neil, McCarthy""",
    "NL": """de Jong, Jansen, de Vries, van den Berg, van Dijk, Bakker, Janssen, Visser, Smit, Meijer, de Boer, Mulder,
        de Groot, Bos, Vos, Peters, Hendriks, van Leeuwen, Dekker, Brouwer, de Wit, Dijkstra, Smits, de Graaf,
        van der Meer, van der Linden, Kok, Jacobs, de Haan, Vermeulen, van den Heuvel, van der Veen, van den Broek,
        de Bruijn, de Bruin, van der Heijden, Schouten, van Beek, Willems, van Vliet, van de Ven, Hoekstra, Maas,
        Verhoeven, Koster, van Dam, van der Wal, Prins, Blom, Huisman, Peeters, de Jonge, Kuipers, van Veen, Post,
        Kuiper, Veenstra, Kramer, van den Brink, Scholten, van Wijk, Postma, Martens, Vink, de Ruiter, Timmermans,
        Groen, Gerritsen, Jonker, van Loon, Boer, van der Velde, Willemsen, Smeets, de Lange, de Vos, Bosch,
        van Dongen, Schipper, de Koning, van der Laan, Koning, Driessen, van Doorn, Hermans, Evers, van den Bosch,
        van der Meulen, Hofman, Bosman, Wolters, Sanders, van der Horst, Mol, Kuijpers, Molenaar, de Leeuw""",
    "AT": """Gruber, Huber, Bauer, Wagner, Müller, Pichler, Steiner, Moser, Mayer, Hofer, Leitner, Berger, Fuchs,
        Eder, Fischer, Schmid, Winkler, Weber, Schwarz, Maier, Schneider, Reiter, Mayr, Schmidt, Wimmer, Egger,
        Brunner, Lang, Baumgartner, Auer, Binder, Lechner, Wolf, Wallner, Aigner, Ebner, Koller, Lehner, Haas,
        Schuster, Holzer, Heiss, Strasser, Schober, Hofbauer, Pfeiffer, Eichinger, Kaiser, Gassner, Grabner,
        Brandstätter, Fasching, Kogler, Haider, Wieser, Hauser, Hackl, Riegler, Wiesinger, Zauner, Hödl, Kainz,
        Mair, Rainer, Kofler, Stadler, Gasser, Hinterberger, Weiß, Schwaiger, Hammer, Pöschl, Unterberger,
        Platzer, Lindner, Krenn, Ortner, Hörmann""",
    "CH": """Müller, Meier, Schmid, Keller, Weber, Huber, Schneider, Meyer, Steiner, Fischer, Gerber, Brunner,
        Baumann, Frei, Zimmermann, Moser, Widmer, Wyss, Graf, Roth, Suter, Baumgartner, Bachmann, Studer, Bühler,
        Kälin, Kaufmann, Lüthi, Marti, Hofmann, Frey, Christen, Kunz, Stalder, Egli, Sutter, Hess, Zürcher,
        Wenger, Bieri, Bucher, Hug, Schär, Fuchs, Kuhn, Maurer, Berger, Arnold, Hauser, Koch, Schürch, Rüegg,
        Sommer, Buri, Iten, Imhof, Ammann, Hürlimann, Gut, Schnyder, Vogel, Hofer, Stucki, Blaser, Bolliger,
        Frick, Favre, Bonvin, Rochat, Perret, Rossi, Bernasconi, Fontana, Ferrari, Lombardi, Jaquet, Gasser, Aebi,
        Leuenberger, Zbinden""",
    "ES": """García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez, Gómez, Martín, Jiménez, Ruiz,
        Hernández, Díaz, Moreno, Muñoz, Álvarez, Romero, Alonso, Gutiérrez, Navarro, Torres, Domínguez, Vázquez,
        Ramos, Gil, Ramírez, Serrano, Blanco, Molina, Morales, Suárez, Ortega, Delgado, Castro, Ortiz, Rubio,
        Marín, Sanz, Núñez, Iglesias, Medina, Garrido, Cortés, Castillo, Santos, Lozano, Guerrero, Cano, Prieto,
        Méndez, Cruz, Calvo, Gallego, Herrera, Márquez, León, Peña, Flores, Cabrera, Campos, Vega, Fuentes,
        Carrasco, Diez, Reyes, Caballero, Nieto, Aguilar, Pascual, Santana, Herrero, Montero, Lorenzo, Hidalgo,
        Giménez, Ibáñez, Ferrer, Durán, Santiago, Benítez, Vidal, Mora, Arias, Vicente""",
    "IT": """Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo, Ricci, Marino, Greco, Bruno, Gallo, Conti,
        De Luca, Mancini, Costa, Giordano, Rizzo, Lombardi, Moretti, Barbieri, Fontana, Santoro, Mariani, Rinaldi,
        Caruso, Ferrara, Galli, Martini, Leone, Longo, Gentile, Martinelli, Vitale, Lombardo, Serra, Coppola,
        De Santis, D'Angelo, Marchetti, Parisi, Villa, Conte, Ferraro, Ferri, Fabbri, Bianco, Marini, Grasso,
        Valentini, Messina, Sala, De Angelis, Gatti, Pellegrini, Palumbo, Sanna, Farina, Rizzi, Monti, Cattaneo,
        Morelli, Amato, Silvestri, Mazza, Testa, Grassi, Pellegrino, Carbone, Giuliani, Benedetti, Barone,
        Rossetti, Caputo, Montanari, Guerra, Palmieri, Bernardi, Martino, Fiore, De Rosa, Ferretti, Bellini,
        Basile, Riva, Donati, Piras, Vitali, Battaglia, Sartori, Neri, Milani, Pagano, Sorrentino, D'Amico,
        Orlando""",
    "PL": """Nowak, Kowalski, Wiśniewski, Wójcik, Kowalczyk, Kamiński, Lewandowski, Zieliński, Szymański, Woźniak,
        Dąbrowski, Kozłowski, Jankowski, Mazur, Wojciechowski, Kwiatkowski, Krawczyk, Kaczmarek, Piotrowski,
        Grabowski, Zając, Pawłowski, Michalski, Król, Wieczorek, Jabłoński, Wróbel, Nowakowski, Majewski,
        Olszewski, Stępień, Malinowski, Jaworski, Adamczyk, Dudek, Nowicki, Pawlak, Górski, Witkowski, Walczak,
        Sikora, Baran, Rutkowski, Michalak, Szewczyk, Ostrowski, Tomaszewski, Pietrzak, Zalewski, Wróblewski,
        Marciniak, Jasiński, Zawadzki, Sadowski, Bąk, Chmielewski, Włodarczyk, Borkowski, Czarnecki, Sawicki,
        Sokołowski, Urbański, Kubiak, Maciejewski, Szczepański, Kucharski, Wilk, Kalinowski, Lis, Mazurek,
        Wysocki, Adamski, Kaźmierczak, Wasilewski, Sobczak, Czerwiński, Andrzejewski, Cieślak, Głowacki,
        Zakrzewski, Kołodziej, Sikorski, Krajewski, Gajewski, Szymczak, Szulc, Baranowski, Laskowski""",
}.items()}

DOUBLE_SURNAME = {"ES": 0.9}  # share of people with two last names ("García López")


def _nick(text: str) -> dict[str, list[str]]:
    """'Formal: Nick Nick; Formal: Nick' -> {formal: [nicknames]}."""
    out = {}
    for part in text.replace("\n", " ").split(";"):
        if part.strip():
            formal, nicks = part.split(":")
            out[formal.strip()] = nicks.split()
    return out


NICKNAMES: dict[str, dict[str, list[str]]] = {c: _nick(t) for c, t in {
    "DE": """Michael: Micha Michi; Thomas: Tom Tommi; Andreas: Andi; Christian: Chris; Katharina: Kathi Katja;
        Alexander: Alex; Daniel: Dani; Tobias: Tobi; Maximilian: Max Maxi; Elisabeth: Lisa Liesel Elli;
        Johannes: Hans Hannes Jo; Stephanie: Steffi; Sebastian: Basti; Florian: Flo; Matthias: Matze Matti;
        Susanne: Susi; Monika: Moni; Ursula: Uschi; Wolfgang: Wolfi; Gabriele: Gabi; Franziska: Franzi;
        Theresa: Resi; Magdalena: Magda Leni; Cornelia: Conny; Veronika: Vroni; Friedrich: Fritz; Heinrich: Heinz;
        Josef: Sepp; Karl: Kalle; Christina: Tina; Philipp: Phil; Johanna: Jo Hanne; Sabine: Bine""",
    "GB": """William: Bill Will Billy; Robert: Bob Rob Bobby; Elizabeth: Liz Beth Lizzie Betty;
        Katherine: Kate Kathy Katie; James: Jim Jimmy Jamie; Thomas: Tom Tommy; Daniel: Dan Danny; Michael: Mike
        Mick; David: Dave; Samuel: Sam; Benjamin: Ben; Alexander: Alex; Christopher: Chris; Jennifer: Jen Jenny;
        Victoria: Vicky Tori; Susan: Sue Susie; Patricia: Pat Trish; Anthony: Tony; Stephen: Steve; Nicholas:
        Nick; Andrew: Andy Drew; Matthew: Matt; Joseph: Joe; Henry: Hal; Margaret: Maggie Peggy Meg; Deborah:
        Debbie; Rebecca: Becky; Edward: Ed Ted Eddie; Richard: Rick Richie; Abigail: Abby; Eleanor: Ellie Nell;
        Harriet: Hattie; Charlotte: Lottie; Isabella: Bella Izzy; Peter: Pete; Florence: Flo; Olivia: Liv""",
    "FR": """Emmanuel: Manu; Sébastien: Seb; Nicolas: Nico; Frédéric: Fred; Stéphanie: Steph; Alexandre: Alex;
        Maxime: Max; Florence: Flo; Isabelle: Isa; Catherine: Cathy; Dominique: Dom; Joséphine: Jojo Josie;
        Élisabeth: Babette Élise; Benjamin: Ben; Christophe: Chris; Valérie: Val; Caroline: Caro; Raphaël: Raph;
        Guillaume: Guigui; Mathilde: Mathou; Thibault: Thib""",
    "US": """William: Bill Billy Will; Robert: Bob Bobby Rob; Elizabeth: Liz Beth Betsy; Katherine: Kate Katie Kathy;
        James: Jim Jimmy; John: Jack Johnny; Michael: Mike; Richard: Rick Dick; Joseph: Joe; Thomas: Tom;
        Christopher: Chris; Daniel: Dan Danny; Matthew: Matt; Anthony: Tony; Andrew: Andy; Timothy: Tim;
        Jonathan: Jon; Kenneth: Ken Kenny; Charles: Chuck Charlie; Donald: Don; Steven: Steve; Nicholas: Nick;
        Kimberly: Kim; Jessica: Jess Jessie; Samantha: Sam; Amanda: Mandy; Melissa: Missy Mel; Stephanie: Steph;
        Christina: Tina; Barbara: Barb; Patricia: Patty Pat Trish; Jennifer: Jen Jenny; Joshua: Josh;
        Jacob: Jake; Benjamin: Ben; Samuel: Sam; Alexander: Alex; Rebecca: Becky; Victoria: Vicky; Abigail: Abby;
        Madison: Maddie; Evelyn: Evie; Susan: Sue""",
    "NL": """Johannes: Jan Hans Joop Hannes; Cornelis: Kees Cor; Pieter: Piet; Willem: Wim Pim; Hendrik: Henk Rik;
        Jacobus: Koos Sjaak Jaap; Maria: Ria Mies Mieke; Johanna: Hanneke Jo; Elisabeth: Lies Els Betty;
        Cornelia: Corrie Nel; Wilhelmina: Mien Wil; Anna: Anneke; Abraham: Bram; Sebastiaan: Bas;
        Alexander: Sander; Daniël: Daan; Gerrit: Gert""",
    "AT": """Josef: Sepp Pepi; Johann: Hansi Hans; Franz: Franzl; Theresa: Resi; Magdalena: Leni Lena;
        Elisabeth: Sissi Lisi; Katharina: Kathi; Maximilian: Max; Michael: Michi; Andreas: Andi; Christoph: Chris;
        Florian: Flo; Barbara: Babsi; Matthias: Hias; Thomas: Tom; Johanna: Hanni; Valentina: Vali;
        Martina: Tina; Christina: Tina""",
    "CH": """Andreas: Res Andi; Ursula: Ursi; Regula: Regi; Franziska: Franzi; Christian: Chrigi; Barbara: Babs;
        Thomas: Thomi; Daniel: Dani; Samuel: Sämi; Verena: Vreni; Hans: Hansi; Nicole: Nici""",
    "ES": """Francisco: Paco Pancho Curro; José: Pepe; Manuel: Manolo; Antonio: Toño Toni; Jesús: Chus Chuy;
        Ignacio: Nacho; Guillermo: Guille Memo; Alejandro: Álex; Enrique: Quique; Rafael: Rafa; Dolores: Lola;
        Concepción: Concha Conchi; Rosario: Charo; Mercedes: Merche; Montserrat: Montse; Pilar: Pili;
        Isabel: Isa Chabela; Teresa: Tere; Cristina: Cris; Beatriz: Bea; Daniel: Dani; Javier: Javi;
        Fernando: Nando; Luis: Lucho""",
    "IT": """Giuseppe: Beppe Peppe Pino; Giovanni: Gianni Nanni; Antonio: Tonino Totò; Salvatore: Totò Turi;
        Vincenzo: Enzo; Francesco: Checco Cecco; Alessandro: Sandro Ale; Domenico: Mimmo; Giuseppina: Pina;
        Caterina: Cate; Elisabetta: Betta Elisa; Roberta: Roby; Federica: Fede; Valentina: Vale;
        Alessandra: Sandra; Leonardo: Leo; Tommaso: Masino; Edoardo: Edo; Lorenzo: Renzo; Matteo: Teo;
        Giovanna: Gianna; Michele: Lele""",
    "PL": """Aleksander: Olek Olo; Aleksandra: Ola Ala; Katarzyna: Kasia; Małgorzata: Gosia Małgosia; Barbara: Basia;
        Joanna: Asia; Anna: Ania; Tomasz: Tomek; Jakub: Kuba; Bartłomiej: Bartek; Wojciech: Wojtek; Zofia: Zosia;
        Jerzy: Jurek; Stanisław: Staszek Stasiek; Franciszek: Franek; Magdalena: Magda; Ewa: Ewka;
        Piotr: Piotrek; Krzysztof: Krzysiek; Michał: Misiek; Andrzej: Jędrek; Józef: Józek; Grzegorz: Grzesiek;
        Mateusz: Mati; Maciej: Maciek; Agnieszka: Aga; Elżbieta: Ela; Krystyna: Krysia; Natalia: Natalka;
        Wiktoria: Wika; Julia: Julka; Zuzanna: Zuzia; Hanna: Hania; Danuta: Danka; Jadwiga: Jadzia""",
}.items()}
